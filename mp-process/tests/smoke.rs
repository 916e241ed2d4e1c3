use std::time::Duration;

use mp_process::{Process, StartMethod, spawn};

fn add(a: u32, b: u32) -> u32 {
    a + b
}

fn hello(name: String) {
    println!("hello {name} from {}", mp_process::current_process().name());
}

#[test]
fn smoke() {
    let _d = mp_testkit::deadline(Duration::from_secs(30));
    for m in StartMethod::ALL {
        let mut p = Process::new(hello, (m.to_string(),)).start_method(m);
        p.start().unwrap();
        assert_eq!(
            p.join_timeout(Duration::from_secs(10)).unwrap(),
            Some(0),
            "{m}"
        );
        let h = mp_process::Context::new(m).spawn(add, (2, 3)).unwrap();
        assert_eq!(h.join().unwrap(), 5);
    }
    let h = spawn(add, (1, 1)).unwrap();
    assert_eq!(h.join().unwrap(), 2);
}
