//! `mp-redis-worker URL [NAME]`: a pool worker with no functions of its
//! own. Every task comes from another build, so it refuses each one with
//! `Error::WrongBuild`: the tests use it as "a worker running a different
//! build", and an operator can use it to see that a pool's tasks reach its
//! workers.

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(url) = args.next() else {
        eprintln!("usage: mp-redis-worker URL [POOL-NAME]");
        std::process::exit(2);
    };
    let mut worker = mp_redis::Worker::new(&url);
    if let Some(name) = args.next() {
        worker = worker.name(&name);
    }
    if let Err(e) = worker.serve() {
        eprintln!("mp-redis-worker: {e}");
        std::process::exit(1);
    }
}
