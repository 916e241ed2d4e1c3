//! `rediss://`: TLS from the URL, with a test CA made by `openssl`.

use std::path::Path;
use std::process::Command;

use mp_redis::{Error, Queue, QueueBuilder};

use crate::support::{self, DEADLINE};

#[cfg(not(feature = "tls"))]
#[test]
fn rediss_without_the_tls_feature_is_an_invalid_url() {
    let _d = mp_testkit::deadline(DEADLINE);
    let q = Queue::<u32>::open("rediss://127.0.0.1:1/", "q");
    assert!(matches!(q, Err(Error::InvalidUrl(_))), "{q:?}");
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl").args(args).current_dir(dir).output();
    let out = out.expect("openssl (the test makes its certificates with it)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA and a server certificate for 127.0.0.1, in `dir`.
fn certificates(dir: &Path) {
    let days = ["-days", "2"];
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-subj",
            "/CN=mp-redis test CA",
            days[0],
            days[1],
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
    );
    std::fs::write(dir.join("ext"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.crt",
            "-extfile",
            "ext",
            days[0],
            days[1],
        ],
    );
}

#[test]
fn queue_and_pool_over_tls_with_the_url() {
    let _d = mp_testkit::deadline(DEADLINE);
    if !support::redis_available() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("mp-redis-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    certificates(&dir);
    let server = support::start(mp_redis::RedisServer::builder().tls(
        &dir.join("server.crt"),
        &dir.join("server.key"),
        &dir.join("ca.crt"),
    ))
    .unwrap();
    let url = server.url();
    assert!(url.starts_with("rediss://"), "{url}");
    let ca = std::fs::read(dir.join("ca.crt")).unwrap();
    let built: Result<Queue<String>, Error> = QueueBuilder::new(&url, &support::unique("tls"))
        .tls_root_cert(&ca)
        .build();
    #[cfg(feature = "tls")]
    {
        let q = built.unwrap();
        q.put(&"over TLS".to_string()).unwrap();
        assert_eq!(q.get().unwrap(), "over TLS");
        // Without the test CA, the server's certificate is not trusted.
        let untrusted = Queue::<u32>::open(&url, "tls");
        assert!(untrusted.is_err(), "{untrusted:?}");
        // Local workers trust the same root.
        let pool = mp_redis::Pool::builder(&url)
            .name(&support::unique("tls-pool"))
            .tls_root_cert(&ca)
            .processes(1)
            .build()
            .unwrap();
        assert_eq!(pool.apply(crate::functions::square, (9,)).unwrap(), 81);
    }
    #[cfg(not(feature = "tls"))]
    assert!(matches!(built, Err(Error::InvalidUrl(_))), "{built:?}");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
