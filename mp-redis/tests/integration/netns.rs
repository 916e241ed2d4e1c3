//! Three hosts: Redis in one network namespace, a pool worker in each of
//! two others, joined by veth pairs; the caller (this test) reaches Redis
//! through its Unix socket. The tasks report the network namespace they
//! ran in, so the test sees them cross hosts; then one worker host is
//! lost mid-map and the other finishes the work.
//!
//! Needs root and iproute2's `ip`; without them the test fails loudly
//! unless `MP_ALLOW_SKIP_REDIS=1`.

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use mp_redis::{Pool, Worker};

use crate::support::{self, PATIENCE};

const URL_ENV: &str = "MP_REDIS_NETNS_URL";
const NAME_ENV: &str = "MP_REDIS_NETNS_NAME";
const VISIBILITY: Duration = Duration::from_millis(400);
const PASSWORD: &str = "netns-s3cret";

/// The network namespace this process runs in (`net:[inode]`).
fn netns(_: u64) -> String {
    std::thread::sleep(Duration::from_millis(10));
    std::fs::read_link("/proc/self/ns/net")
        .map(|p| p.display().to_string())
        .unwrap_or_default()
}
mp_redis::register!(netns);

/// Namespaces, links and processes of the test; removed on drop, also when
/// the test fails.
struct Hosts {
    namespaces: Vec<String>,
    children: Vec<Child>,
    dir: std::path::PathBuf,
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
        let _ = std::fs::remove_dir_all(&self.dir);
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

fn skip_reason() -> Option<String> {
    if !is_root() {
        return Some("not running as root (network namespaces need CAP_SYS_ADMIN)".into());
    }
    match Command::new("ip").arg("-V").output() {
        Ok(out) if out.status.success() => None,
        _ => Some("iproute2's `ip` is not available".into()),
    }
}

/// Starts this test binary's worker helper inside `namespace`.
fn worker_in(namespace: &str, url: &str, name: &str) -> Child {
    let mut child = Command::new("ip")
        .args(["netns", "exec", namespace])
        .arg(std::env::current_exe().unwrap())
        .args([
            "netns::netns_worker_helper",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(URL_ENV, url)
        .env(NAME_ENV, name)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            println!("  [worker] {line}");
        }
    });
    child
}

#[test]
fn tasks_cross_hosts_and_survive_a_lost_host() {
    let _d = mp_testkit::deadline(Duration::from_secs(150));
    if let Some(reason) = skip_reason() {
        assert!(
            support::may_skip(),
            "cannot run the network-namespace test: {reason} (MP_ALLOW_SKIP_REDIS=1 skips it)"
        );
        eprintln!("SKIPPED: {reason}");
        return;
    }
    if !support::redis_available() {
        return;
    }
    let tag = std::process::id() % 100_000;
    let dir = std::env::temp_dir().join(format!("mp-redis-netns-{tag}"));
    std::fs::create_dir_all(&dir).unwrap();
    let mut hosts = Hosts {
        namespaces: Vec::new(),
        children: Vec::new(),
        dir: dir.clone(),
    };
    let (ns_redis, ns_b, ns_c) = (
        format!("mprR{tag}"),
        format!("mprB{tag}"),
        format!("mprC{tag}"),
    );
    for ns in [&ns_redis, &ns_b, &ns_c] {
        ip(&["netns", "add", ns]);
        hosts.namespaces.push(ns.clone());
    }
    let subnet = |k: u32| format!("10.{}.{}", 232 + k, tag % 250);
    let mut redis_ips = Vec::new();
    for (k, ns) in [(0, &ns_b), (1, &ns_c)] {
        let (near, far) = (format!("mprr{k}{tag}"), format!("mprw{k}{tag}"));
        ip(&["link", "add", &near, "type", "veth", "peer", "name", &far]);
        ip(&["link", "set", &near, "netns", &ns_redis]);
        ip(&["link", "set", &far, "netns", ns]);
        let (redis_ip, worker_ip) = (format!("{}.1", subnet(k)), format!("{}.2", subnet(k)));
        ip(&[
            "-n",
            &ns_redis,
            "addr",
            "add",
            &format!("{redis_ip}/24"),
            "dev",
            &near,
        ]);
        ip(&[
            "-n",
            ns,
            "addr",
            "add",
            &format!("{worker_ip}/24"),
            "dev",
            &far,
        ]);
        ip(&["-n", &ns_redis, "link", "set", &near, "up"]);
        ip(&["-n", ns, "link", "set", &far, "up"]);
        ip(&["-n", ns, "link", "set", "lo", "up"]);
        redis_ips.push(redis_ip);
    }
    ip(&["-n", &ns_redis, "link", "set", "lo", "up"]);

    // Redis on host R: TCP on both links (with a password), and a Unix
    // socket that the caller here reaches through the file system.
    let socket = dir.join("redis.sock");
    let port = "6390";
    let redis = Command::new("ip")
        .args([
            "netns",
            "exec",
            &ns_redis,
            "setpriv",
            "--pdeathsig",
            "KILL",
            "--",
        ])
        .args(["redis-server", "--port", port, "--bind"])
        .args(&redis_ips)
        .args(["--unixsocket", &socket.display().to_string()])
        .args([
            "--requirepass",
            PASSWORD,
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .args([
            "--dir",
            &dir.display().to_string(),
            "--logfile",
            "redis.log",
        ])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    hosts.children.push(redis);
    assert!(mp_testkit::eventually(PATIENCE, || {
        std::os::unix::net::UnixStream::connect(&socket).is_ok()
    }));

    let name = support::unique("netns");
    for (ns, redis_ip) in [(&ns_b, &redis_ips[0]), (&ns_c, &redis_ips[1])] {
        let url = format!("redis://:{PASSWORD}@{redis_ip}:{port}/");
        hosts.children.push(worker_in(ns, &url, &name));
    }
    let local = format!("redis+unix://{}?pass={PASSWORD}", socket.display());
    let pool = Pool::builder(&local)
        .name(&name)
        .visibility_timeout(VISIBILITY)
        .build()
        .unwrap();
    let here = netns(0);
    let places: Vec<String> = pool.map_chunked(netns, 0..60u64, 1).unwrap();
    let distinct: HashSet<&String> = places.iter().collect();
    println!("tasks ran in {distinct:?}; the caller is in {here}");
    assert_eq!(
        distinct.len(),
        2,
        "both worker hosts took tasks: {distinct:?}"
    );
    assert!(
        !distinct.contains(&here),
        "no task ran on the caller's host"
    );

    // Host B is lost mid-map: host C finishes everything.
    let job = pool.map_async_with(netns, 0..60u64, Some(1)).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let mut lost = hosts.children.remove(1);
    lost.kill().unwrap();
    lost.wait().unwrap();
    let places = job.get_timeout(PATIENCE).unwrap();
    assert_eq!(places.len(), 60);
    println!("after losing host B: {} results", places.len());
    drop(pool);
}

/// A worker host: serves the pool until killed.
#[test]
#[ignore = "run by tasks_cross_hosts_and_survive_a_lost_host"]
fn netns_worker_helper() {
    let (Ok(url), Ok(name)) = (std::env::var(URL_ENV), std::env::var(NAME_ENV)) else {
        return;
    };
    println!("serving {name} from {}", netns(0));
    Worker::new(&url)
        .name(&name)
        .visibility_timeout(VISIBILITY)
        .serve()
        .unwrap();
}
