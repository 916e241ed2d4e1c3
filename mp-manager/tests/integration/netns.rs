//! Two hosts: a queue registered on host A is used from host B over TCP.
//!
//! The test makes the hosts itself: two network namespaces joined by a veth
//! pair, each end with its own address (root only; skipped with a printed
//! reason otherwise). The server and the client are this test binary, run
//! inside the namespaces with `ip netns exec` on an ignored helper test.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use mp_manager::{BaseManager, Error, QueueProxy, Registrar, Registry, ServerObject};
use mp_pipe::Address;

const ADDR_ENV: &str = "MP_MANAGER_NETNS_ADDR";
const KEY_ENV: &str = "MP_MANAGER_NETNS_KEY";
const ITEMS: u32 = 5;
const HELPER_TIMEOUT: Duration = Duration::from_secs(40);

struct NetQueues;

impl Registry for NetQueues {
    fn register(registrar: &mut Registrar) {
        registrar
            .register("get_queue", ServerObject::queue())
            .register("get_replies", ServerObject::queue());
    }
}

/// The two namespaces and the helpers running in them; removed on drop,
/// also when the test fails.
struct Hosts {
    namespaces: Vec<String>,
    children: Vec<Child>,
}

impl Drop for Hosts {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
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
fn skip_reason() -> Option<String> {
    if !is_root() {
        return Some("not running as root (network namespaces need CAP_SYS_ADMIN)".into());
    }
    match Command::new("ip").arg("-V").output() {
        Ok(out) if out.status.success() => None,
        Ok(_) => Some("`ip -V` failed".into()),
        Err(e) => Some(format!("iproute2's `ip` is not available: {e}")),
    }
}

fn helper(namespace: &str, test: &str, addr: &str, key: &str) -> Child {
    let exe = std::env::current_exe().unwrap();
    Command::new("ip")
        .args(["netns", "exec", namespace])
        .arg(exe)
        .args([
            test,
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(ADDR_ENV, addr)
        .env(KEY_ENV, key)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Forwards a child's stdout lines to a channel.
fn lines(child: &mut Child) -> mpsc::Receiver<String> {
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            println!("  | {line}");
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Waits for a line with `marker` and returns what follows it (libtest may
/// have printed the test's name before it on the same line).
fn wait_for_line(rx: &mpsc::Receiver<String>, marker: &str) -> String {
    let end = Instant::now() + HELPER_TIMEOUT;
    loop {
        let left = end.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                if let Some(at) = line.find(marker) {
                    return line[at + marker.len()..].trim().to_string();
                }
            }
            Err(e) => panic!("no {marker:?} line from the helper: {e}"),
        }
    }
}

fn wait_success(child: &mut Child, what: &str) {
    let end = Instant::now() + HELPER_TIMEOUT;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "{what} failed: {status}");
            return;
        }
        assert!(Instant::now() < end, "{what} did not finish");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_queue_registered_on_one_host_is_used_from_another() {
    let _d = mp_testkit::deadline(Duration::from_secs(120));
    if let Some(reason) = skip_reason() {
        println!("skipping the two-namespace test: {reason}");
        return;
    }
    let tag = std::process::id() % 100_000;
    let (ns_a, ns_b) = (format!("mpmA{tag}"), format!("mpmB{tag}"));
    let (veth_a, veth_b) = (format!("mpa{tag}"), format!("mpb{tag}"));
    let subnet = format!("10.231.{}", tag % 250);
    let (ip_a, ip_b) = (format!("{subnet}.1"), format!("{subnet}.2"));
    let mut hosts = Hosts {
        namespaces: Vec::new(),
        children: Vec::new(),
    };
    for ns in [&ns_a, &ns_b] {
        ip(&["netns", "add", ns]);
        hosts.namespaces.push(ns.clone());
    }
    ip(&[
        "link", "add", &veth_a, "type", "veth", "peer", "name", &veth_b,
    ]);
    ip(&["link", "set", &veth_a, "netns", &ns_a]);
    ip(&["link", "set", &veth_b, "netns", &ns_b]);
    ip(&[
        "-n",
        &ns_a,
        "addr",
        "add",
        &format!("{ip_a}/24"),
        "dev",
        &veth_a,
    ]);
    ip(&[
        "-n",
        &ns_b,
        "addr",
        "add",
        &format!("{ip_b}/24"),
        "dev",
        &veth_b,
    ]);
    for (ns, veth) in [(&ns_a, &veth_a), (&ns_b, &veth_b)] {
        ip(&["-n", ns, "link", "set", veth, "up"]);
        ip(&["-n", ns, "link", "set", "lo", "up"]);
    }

    let key = format!("netns-key-{tag}");
    let server = helper(
        &ns_a,
        "netns::netns_server_helper",
        &format!("{ip_a}:0"),
        &key,
    );
    hosts.children.push(server);
    let server_out = lines(&mut hosts.children[0]);
    let address = wait_for_line(&server_out, "MP-NETNS-ADDR ");
    assert!(address.starts_with(&ip_a), "{address}");

    let client = helper(&ns_b, "netns::netns_client_helper", &address, &key);
    hosts.children.push(client);
    let client_out = lines(&mut hosts.children[1]);
    wait_for_line(&client_out, "MP-NETNS-CLIENT-OK");
    wait_for_line(&server_out, "MP-NETNS-SERVER-OK");
    wait_success(&mut hosts.children[1], "the client on host B");
    wait_success(&mut hosts.children[0], "the server on host A");
}

fn helper_env() -> Option<(Address, Vec<u8>)> {
    let addr = std::env::var(ADDR_ENV).ok()?;
    let key = std::env::var(KEY_ENV).ok()?;
    Some((addr.parse().unwrap(), key.into_bytes()))
}

/// Host A: serves `get_queue`, and consumes from it locally.
#[test]
#[ignore = "run by a_queue_registered_on_one_host_is_used_from_another"]
fn netns_server_helper() {
    let _d = mp_testkit::deadline(HELPER_TIMEOUT);
    let Some((address, key)) = helper_env() else {
        return;
    };
    let server = BaseManager::new()
        .address(address)
        .authkey(&key)
        .registry::<NetQueues>()
        .get_server()
        .unwrap();
    let address = server.address().clone();
    println!("MP-NETNS-ADDR {address}");
    std::thread::spawn(move || server.serve_forever());
    let local = BaseManager::new()
        .address(address)
        .authkey(&key)
        .connect()
        .unwrap();
    let queue: QueueProxy<String> = local.get("get_queue").unwrap();
    let replies: QueueProxy<String> = local.get("get_replies").unwrap();
    for i in 0..ITEMS {
        assert_eq!(
            queue.get_timeout(HELPER_TIMEOUT).unwrap(),
            format!("from B {i}")
        );
    }
    replies.put("ack from A").unwrap();
    assert_eq!(queue.get_timeout(HELPER_TIMEOUT).unwrap(), "bye");
    // Host B's attempt with a wrong key was refused on this side too.
    assert!(local.debug_info().unwrap().refused >= 1);
    println!("MP-NETNS-SERVER-OK");
}

/// Host B: uses host A's queue over TCP.
#[test]
#[ignore = "run by a_queue_registered_on_one_host_is_used_from_another"]
fn netns_client_helper() {
    let _d = mp_testkit::deadline(HELPER_TIMEOUT);
    let Some((address, key)) = helper_env() else {
        return;
    };
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
    assert_eq!(replies.get_timeout(HELPER_TIMEOUT).unwrap(), "ack from A");
    queue.put("bye").unwrap();
    println!("MP-NETNS-CLIENT-OK");
}
