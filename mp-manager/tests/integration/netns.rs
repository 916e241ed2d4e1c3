//! Two hosts: a queue registered on host A is used from host B over TCP.
//!
//! The test makes the hosts itself: two network namespaces joined by a veth
//! pair, each end with its own address. Host A's server and host B's client
//! are child processes of the test that enter their namespace before they
//! open a socket. It needs root and iproute2's `ip`: without them it fails,
//! unless `MP_ALLOW_SKIP_NETNS=1` allows the skip (said on stderr).

use std::fs::File;
use std::os::fd::AsFd;
use std::process::{Command, Stdio};
use std::time::Duration;

use mp_manager::{BaseManager, Error, QueueProxy, Registrar, Registry, ServerObject};
use mp_pipe::{Address, Connection};

use crate::PATIENCE;

const ITEMS: u32 = 5;

struct NetQueues;

impl Registry for NetQueues {
    fn register(registrar: &mut Registrar) {
        registrar
            .register("get_queue", ServerObject::queue())
            .register("get_replies", ServerObject::queue());
    }
}

/// The two namespaces; removed on drop, also when the test fails.
struct Hosts {
    namespaces: Vec<String>,
}

impl Drop for Hosts {
    fn drop(&mut self) {
        for ns in &self.namespaces {
            let _ = Command::new("ip")
                .args(["netns", "del", ns])
                .stderr(Stdio::null())
                .status();
        }
    }
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|status| {
        status
            .lines()
            .find(|l| l.starts_with("Uid:"))
            .and_then(|l| l.split_whitespace().nth(2))
            == Some("0")
    })
}

/// Why the test cannot run here, if it cannot.
fn missing() -> Option<String> {
    if !is_root() {
        return Some("not running as root (network namespaces need CAP_SYS_ADMIN)".into());
    }
    match Command::new("ip").arg("-V").output() {
        Ok(out) if out.status.success() => None,
        Ok(_) => Some("`ip -V` failed".into()),
        Err(e) => Some(format!("iproute2's `ip` is not available: {e}")),
    }
}

/// Moves the calling thread (and the threads it starts from now on) into
/// the network namespace `ip netns add` made as `name`.
fn enter(name: &str) {
    let ns = File::open(format!("/run/netns/{name}")).unwrap();
    rustix::thread::move_into_link_name_space(
        ns.as_fd(),
        Some(rustix::thread::LinkNameSpaceType::Network),
    )
    .unwrap();
}

/// Host A: serves `get_queue` on `bind` and consumes from it locally, until
/// the test says host B is done; returns how many peers it refused.
fn host_a(netns: String, bind: Address, key: Vec<u8>, test: Connection) -> u64 {
    enter(&netns);
    let server = BaseManager::new()
        .address(bind)
        .authkey(&key)
        .registry::<NetQueues>()
        .get_server()
        .unwrap();
    let address = server.address().clone();
    std::thread::spawn(move || server.serve_forever());
    let local = BaseManager::new()
        .address(address.clone())
        .authkey(&key)
        .connect()
        .unwrap();
    test.send(&address).unwrap();
    let queue: QueueProxy<String> = local.get("get_queue").unwrap();
    let replies: QueueProxy<String> = local.get("get_replies").unwrap();
    for i in 0..ITEMS {
        assert_eq!(queue.get_timeout(PATIENCE).unwrap(), format!("from B {i}"));
    }
    replies.put("ack from A").unwrap();
    // Keep serving until host B has its reply (and has finished).
    test.recv_timeout::<()>(PATIENCE).unwrap();
    local.debug_info().unwrap().refused
}

/// Host B: a wrong key is refused; with the right one, uses host A's queue.
fn host_b(netns: String, address: Address, key: Vec<u8>) {
    enter(&netns);
    let wrong = BaseManager::new()
        .address(address.clone())
        .authkey(b"wrong key")
        .connect();
    assert!(matches!(wrong, Err(Error::Authentication(_))), "{wrong:?}");
    let remote = BaseManager::new()
        .address(address)
        .authkey(&key)
        .connect()
        .unwrap();
    let queue: QueueProxy<String> = remote.get("get_queue").unwrap();
    let replies: QueueProxy<String> = remote.get("get_replies").unwrap();
    for i in 0..ITEMS {
        queue.put(&format!("from B {i}")).unwrap();
    }
    assert_eq!(replies.get_timeout(PATIENCE).unwrap(), "ack from A");
}

#[test]
fn a_queue_registered_on_one_host_is_used_from_another() {
    let _d = mp_testkit::deadline(Duration::from_secs(120));
    if let Some(reason) = missing() {
        assert!(
            std::env::var("MP_ALLOW_SKIP_NETNS").is_ok_and(|v| v == "1"),
            "cannot make two hosts: {reason}; set MP_ALLOW_SKIP_NETNS=1 to skip this test"
        );
        eprintln!("SKIPPED: the two-namespace test: {reason}");
        return;
    }
    let tag = std::process::id() % 100_000;
    let (ns_a, ns_b) = (format!("mpmA{tag}"), format!("mpmB{tag}"));
    let (veth_a, veth_b) = (format!("mpa{tag}"), format!("mpb{tag}"));
    let subnet = format!("10.231.{}", tag % 250);
    let (ip_a, ip_b) = (format!("{subnet}.1"), format!("{subnet}.2"));
    let mut hosts = Hosts {
        namespaces: Vec::new(),
    };
    for ns in [&ns_a, &ns_b] {
        ip(&["netns", "add", ns]);
        hosts.namespaces.push(ns.clone());
    }
    ip(&[
        "link", "add", &veth_a, "type", "veth", "peer", "name", &veth_b,
    ]);
    for (ns, veth, addr) in [(&ns_a, &veth_a, &ip_a), (&ns_b, &veth_b, &ip_b)] {
        ip(&["link", "set", veth, "netns", ns]);
        ip(&["-n", ns, "addr", "add", &format!("{addr}/24"), "dev", veth]);
        ip(&["-n", ns, "link", "set", veth, "up"]);
        ip(&["-n", ns, "link", "set", "lo", "up"]);
    }

    let key = format!("netns-key-{tag}").into_bytes();
    let bind: Address = format!("{ip_a}:0").parse().unwrap();
    let (to_a, theirs) = mp_pipe::pipe().unwrap();
    let mut server = mp_process::spawn(host_a, (ns_a.clone(), bind, key.clone(), theirs)).unwrap();
    let address: Address = to_a.recv_timeout(PATIENCE).unwrap();
    let Address::Tcp(bound) = &address else {
        panic!("not TCP: {address}")
    };
    assert_eq!(bound.ip().to_string(), ip_a);

    let mut client = mp_process::spawn(host_b, (ns_b.clone(), address, key)).unwrap();
    client.join_timeout(PATIENCE).unwrap();
    to_a.send(&()).unwrap();
    // Host B's attempt with a wrong key was refused on host A's side too.
    assert!(server.join_timeout(PATIENCE).unwrap() >= 1);
    drop(hosts);
}
