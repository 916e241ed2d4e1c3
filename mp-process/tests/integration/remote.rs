//! `RemoteFn`: function references called in children, and forged ones refused.

use super::*;
use mp_process::{CallError, RemoteFn, decode_results};

fn cube(n: u64) -> u64 {
    if n == 13 {
        mp_testkit::panic_quietly(format!("unlucky {n}"));
    }
    n * n * n
}

fn call_in_child(f: RemoteFn<(u64,), u64>, n: u64) -> u64 {
    f.call((n,))
}

fn call_erased_in_child(f: RemoteFn<(u64,), u64>, args: Vec<u8>) -> Result<Vec<u8>, CallError> {
    f.erase().call(&args)
}

#[test]
fn a_function_reference_is_called_in_children_under_every_start_method() {
    let _d = deadline(60 * SECS);
    let f = RemoteFn::new(cube);
    assert_eq!(f.call((3,)), 27);
    for m in methods() {
        assert_eq!(
            Context::new(m)
                .spawn(call_in_child, (f, 4))
                .unwrap()
                .join()
                .unwrap(),
            64,
            "{m}"
        );
        let args = postcard::to_allocvec(&vec![(2u64,), (13,), (5,)]).unwrap();
        let out = Context::new(m)
            .spawn(call_erased_in_child, (f, args))
            .unwrap()
            .join()
            .unwrap()
            .unwrap();
        let results = decode_results::<u64>(&out, 3).unwrap();
        assert_eq!(results[0], Ok(8));
        assert!(
            matches!(&results[1], Err(msg) if msg.contains("unlucky 13")),
            "{m}: a panic is that item's error"
        );
        assert_eq!(results[2], Ok(125));
    }
}

#[test]
fn forged_or_retyped_references_do_not_decode() {
    let _d = deadline(10 * SECS);
    let f = RemoteFn::new(cube);
    let mut bytes = postcard::to_allocvec(&f).unwrap();
    assert!(postcard::from_bytes::<RemoteFn<(u64,), u64>>(&bytes).is_ok());
    // Another signature: the tag covers the types.
    assert!(postcard::from_bytes::<RemoteFn<(u32,), u64>>(&bytes).is_err());
    // A different offset (pointing anywhere) with the old tag.
    bytes[0] ^= 0x02;
    assert!(postcard::from_bytes::<RemoteFn<(u64,), u64>>(&bytes).is_err());
    // Arguments that do not decode are a call error, not a crash.
    assert!(matches!(
        f.erase().call(&[0xff, 0xff, 0xff]),
        Err(CallError::Decode(_))
    ));
}

#[test]
fn a_reference_never_decodes_as_another_type_of_the_same_name() {
    let _d = deadline(10 * SECS);
    // Structs of one name in two blocks: `type_name` cannot tell them apart.
    let (bytes, wide_name) = {
        #[derive(Serialize, Deserialize)]
        struct Item(u64);
        fn wide(item: Item) -> u64 {
            item.0
        }
        let bytes = postcard::to_allocvec(&RemoteFn::new(wide)).unwrap();
        (bytes, std::any::type_name::<Item>())
    };
    let (decoded, narrow_name) = {
        #[derive(Serialize, Deserialize)]
        struct Item(u8);
        let decoded = postcard::from_bytes::<RemoteFn<(Item,), u64>>(&bytes);
        (decoded.map(drop), std::any::type_name::<Item>())
    };
    assert_eq!(wide_name, narrow_name, "the premise: one name, two types");
    assert!(
        decoded.is_err(),
        "a reference to fn(Item(u64)) decoded as fn(Item(u8))"
    );
}
