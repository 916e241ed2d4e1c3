//! The `Forkserver` start method (the default).
//!
//! A forkserver is a fresh, single-threaded copy of this binary, started by
//! re-execution the first time it is needed. It listens on a random abstract
//! Unix address and authenticates every caller with HMAC-SHA256 (the key is
//! random and known only to this process). A request carries a job; the
//! forkserver forks, the fork runs the job, and the caller gets back the
//! child's pid and a pidfd.
//!
//! The fork is made with `CLONE_PARENT` (see `sys::fork_as_sibling`): the
//! child is the caller's own child, not the forkserver's. The caller waits
//! for it and reads its exit code like any child of its own, the child
//! dies when the caller dies (its parent-death signal), and a forkserver
//! that dies (killed, OOM killer) leaves its children running: they keep
//! belonging to the process that started them.
//!
//! Forking a small clean process is fast and safe however many threads the
//! caller has. If the forkserver dies, the next start starts a new one.

use std::os::fd::OwnedFd;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use mp_handle::Fd;
use mp_pipe::{Address, Client, Connection, Listener, Waitable};
use rustix::process::Signal;
use serde::{Deserialize, Serialize};

use crate::children::Child;
use crate::current::{ChildRecord, Identity};
use crate::error::{Error, Result};
use crate::job::{self, Body, Bootstrap, ForkserverSetup, Job};
use crate::method::StartMethod;
use crate::state::{self, PerProcess};
use crate::{reexec, sys};

/// How long a new forkserver may take to report that it listens.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the forkserver may take to answer a request.
const REPLY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a client looks for the forkserver's reply before it sleeps
/// (see `request`). Measured on a 2-vCPU VM (start+join of a trivial
/// child): criterion 217 -> 190 us, alternating probe batches 210-214 ->
/// 191-205 us, the bench's interleaved batches 211 -> 209 us.
const REPLY_SPIN: Duration = Duration::from_micros(150);
/// How long a peer gets to authenticate or to send its request.
const PEER_TIMEOUT: Duration = Duration::from_secs(5);
/// Idle authenticated connections kept for later starts.
const MAX_IDLE: usize = 8;

#[derive(Serialize, Deserialize)]
enum Reply {
    Started { pid: u32, pidfd: Fd },
    Failed(String),
}

/// This process's forkserver.
struct Forkserver {
    generation: u64,
    process: Child,
    /// The forkserver exits when this closes.
    lifeline: Connection,
    setup: ForkserverSetup,
    idle: Vec<Connection>,
}

static FORKSERVER: PerProcess<Mutex<Option<Forkserver>>> = PerProcess::new();

fn lock() -> MutexGuard<'static, Option<Forkserver>> {
    state::lock(FORKSERVER.get(|| Mutex::new(None)))
}

/// Starts `job` in a child of the forkserver.
pub(crate) fn start(job: Job) -> Result<Arc<Child>> {
    let mut last = None;
    // A broken connection may mean the forkserver died: one retry with a
    // fresh connection (and a fresh forkserver if needed).
    for _ in 0..2 {
        let (conn, generation) = checkout()?;
        match request(&conn, &job) {
            Ok((pid, pidfd)) => {
                checkin(conn, generation);
                let child = Child::new(pid, pidfd, &job.identity, StartMethod::Forkserver);
                return Ok(Arc::new(child));
            }
            Err(e @ Error::Forkserver(_)) => return Err(e),
            Err(e) => {
                forget_if_dead(generation);
                last = Some(e);
            }
        }
    }
    Err(last.expect("the loop ran"))
}

fn request(conn: &Connection, job: &Job) -> Result<(u32, OwnedFd)> {
    conn.send(job)?;
    // The reply comes after the forkserver's wake-up and fork (60-90 us
    // here), past a receive's own 30 us spin: looking for it a while
    // longer saves the client's sleep and wake-up (another 25-50 us where
    // an idle vCPU halts). The connection is a plain socket: a look is one
    // zero-timeout `poll`.
    mp_internal::spin::until_answer(REPLY_SPIN, || conn.poll(Duration::ZERO).unwrap_or(true));
    match conn.recv_timeout::<Reply>(REPLY_TIMEOUT)? {
        Reply::Started { pid, pidfd } => Ok((pid, pidfd.into_owned())),
        Reply::Failed(why) => Err(Error::Forkserver(why)),
    }
}

/// An authenticated connection to a running forkserver.
fn checkout() -> Result<(Connection, u64)> {
    let (setup, generation) = {
        let mut slot = lock();
        let server = running(&mut slot)?;
        if let Some(conn) = server.idle.pop() {
            return Ok((conn, server.generation));
        }
        (server.setup.clone(), server.generation)
    };
    Ok((connect(&setup)?, generation))
}

/// Connects to the forkserver `setup` describes; both sides prove they
/// hold its key (mp_pipe's mutual HMAC handshake).
fn connect(setup: &ForkserverSetup) -> Result<Connection> {
    Ok(Client::builder(setup.address.clone())
        .authkey(&setup.authkey)
        .timeout(PEER_TIMEOUT)
        .connect_now()?)
}

fn checkin(conn: Connection, generation: u64) {
    let mut slot = lock();
    if let Some(server) = slot.as_mut().filter(|h| h.generation == generation) {
        if server.idle.len() < MAX_IDLE {
            server.idle.push(conn);
        }
    }
}

fn forget_if_dead(generation: u64) {
    let mut slot = lock();
    if slot
        .as_ref()
        .is_some_and(|h| h.generation == generation && !matches!(h.process.poll_exit(), Ok(None)))
    {
        *slot = None;
    }
}

/// The running forkserver, started (or restarted) as needed.
fn running(slot: &mut Option<Forkserver>) -> Result<&mut Forkserver> {
    let alive = slot
        .as_ref()
        .is_some_and(|h| matches!(h.process.poll_exit(), Ok(None)));
    if !alive {
        static GENERATION: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let generation = GENERATION.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        *slot = Some(launch(generation)?);
    }
    Ok(slot.as_mut().expect("set above"))
}

fn launch(generation: u64) -> Result<Forkserver> {
    let setup = ForkserverSetup {
        address: Address::unique(),
        authkey: mp_pipe::random_authkey(),
    };
    let (lifeline, pid, pidfd) = reexec::exec_self()?;
    let identity = Identity {
        name: "ForkServer".into(),
        ident: Vec::new(),
        daemon: true,
        authkey: Vec::new(),
        parent_pid: std::process::id(),
        parent_name: String::new(),
        method: StartMethod::Spawn,
        log: Default::default(),
    };
    let process = Child::new(pid, pidfd, &identity, StartMethod::Spawn);
    let ready = lifeline
        .send(&Bootstrap::Forkserver(setup.clone()))
        .and_then(|()| lifeline.recv_timeout::<Result<(), String>>(STARTUP_TIMEOUT));
    match ready {
        Ok(Ok(())) => {
            log::info!(target: "mp::forkserver", "forkserver started (pid {pid})");
            Ok(Forkserver {
                generation,
                process,
                lifeline,
                setup,
                idle: Vec::new(),
            })
        }
        failed => {
            let _ = process.signal(Signal::KILL);
            let _ = process.wait(None);
            Err(Error::Forkserver(match failed {
                Ok(Err(why)) => why,
                Err(e) => format!("did not start: {e}"),
                Ok(Ok(())) => unreachable!(),
            }))
        }
    }
}

/// At exit: close the lifeline so the forkserver exits, and reap it.
///
/// Inline, as `children::take_ours`: most processes never start one, and
/// a new child leaving has no page of code to map just to find none.
#[inline]
pub(crate) fn shutdown() {
    // Nothing to make just to look.
    if let Some(slot) = FORKSERVER.peek() {
        shut_down(slot);
    }
}

fn shut_down(slot: &Mutex<Option<Forkserver>>) {
    let server = state::lock(slot).take();
    if let Some(server) = server {
        let Forkserver {
            process,
            lifeline,
            idle,
            ..
        } = server;
        drop((lifeline, idle));
        if !matches!(process.wait(Some(Duration::from_secs(1))), Ok(Some(_))) {
            let _ = process.signal(Signal::KILL);
            let _ = process.wait(Some(Duration::from_secs(1)));
        }
    }
}

/// The forkserver's main loop (in the re-executed process): it never
/// returns in the forkserver, which exits when its parent closes the
/// lifeline; it returns the prepared job in each child it forks.
pub(crate) fn serve(lifeline: Connection, setup: ForkserverSetup) -> (ChildRecord, Body) {
    let ForkserverSetup { address, authkey } = setup;
    let listener = Listener::builder(address)
        .authkey(&authkey)
        .handshake_timeout(PEER_TIMEOUT)
        .bind();
    // The listener keeps its own copy. Freed here, once: not by every
    // child on its way out of this function (a free in a fresh fork is a
    // page copy or two).
    drop(authkey);
    let listener = match listener {
        Ok(listener) => listener,
        Err(e) => {
            let _ = lifeline.send(&Err::<(), String>(format!("cannot listen: {e}")));
            sys::exit_now(1)
        }
    };
    if lifeline.send(&Ok::<(), String>(())).is_err() {
        sys::exit_now(1);
    }
    // Installed here once, so that no child has to make it (and copy the
    // pages it writes).
    job::ensure_panic_banner();
    // Likewise the fork-child hook that forgets the cached pid: registered
    // here once (the first `pid()` registers it), not by every child at its
    // first `pid()` (a `pthread_atfork` registration, its allocations and
    // the pages they write).
    let _ = state::pid();
    // And stdout's buffer, made on its first use (a flush, a print): made
    // here, a child that flushes it at exit finds it made (no allocation,
    // no pages written).
    let _ = std::io::Write::flush(&mut std::io::stdout());
    let mut server = Server {
        lifeline,
        listener,
        clients: Vec::new(),
    };
    let job = server.run();
    // In a fresh fork: none of the forkserver's descriptors belong here.
    // They are closed, and the memory around them leaked, not freed: the
    // pages a new child frees in are pages it copies from the forkserver
    // (a dozen page faults per start when the server was dropped).
    let Server {
        lifeline,
        listener,
        clients,
    } = server;
    lifeline.abandon();
    listener.abandon();
    let mut clients = clients.into_iter();
    clients.by_ref().for_each(Connection::abandon);
    std::mem::forget(clients);
    job
}

struct Server {
    lifeline: Connection,
    listener: Listener,
    clients: Vec<Connection>,
}

impl Server {
    /// Serves until the lifeline closes (then exits) or a fork happens
    /// (then returns the prepared job, in the child).
    fn run(&mut self) -> (ChildRecord, Body) {
        loop {
            let ready = {
                let mut objects: Vec<&dyn Waitable> = vec![&self.lifeline, &self.listener];
                objects.extend(self.clients.iter().map(|c| c as &dyn Waitable));
                // Without the spin: a child forked in the last round is
                // queued on this CPU until the forkserver sleeps.
                match mp_pipe::wait_without_spin(&objects, None) {
                    Ok(ready) => ready,
                    Err(_) => sys::exit_now(1),
                }
            };
            let mut gone_clients = Vec::new();
            for at in 0..ready.len() {
                match ready[at] {
                    // The parent closed the lifeline (or died): stop. The
                    // children are the parent's, not ours.
                    0 => sys::exit_now(0),
                    1 => {
                        if let Ok(conn) = self.listener.accept_timeout(PEER_TIMEOUT) {
                            self.clients.push(conn);
                        }
                    }
                    i => {
                        let client = i - 2;
                        match self.clients[client].recv_timeout::<Job>(PEER_TIMEOUT) {
                            Ok(job) => {
                                if let Some(prepared) = self.fork(client, job) {
                                    // In the child: leaked, not freed (see
                                    // `serve`).
                                    std::mem::forget(ready);
                                    return prepared;
                                }
                            }
                            Err(_) => gone_clients.push(client),
                        }
                    }
                }
            }
            for &client in gone_clients.iter().rev() {
                self.clients.swap_remove(client);
            }
        }
    }

    /// Forks a child for `job`; returns the prepared job in the child,
    /// `None` in the forkserver (after replying to the client).
    fn fork(&mut self, client: usize, job: Job) -> Option<(ChildRecord, Body)> {
        job::check_entry(&job);
        let parent = job.identity.parent_pid;
        let prepared = job.prepare();
        // A SIGINT for the child waits until its handler is in place.
        let held = sys::interrupt::hold();
        // The forkserver is single-threaded (`fork_as_sibling` checks) and
        // holds no lock here.
        let forked = sys::fork_as_sibling();
        if !matches!(forked, Ok(None)) {
            held.release();
        }
        let reply = match forked {
            Ok(None) => {
                // The caller's child: it dies with the caller.
                let parent = rustix::process::Pid::from_raw(parent as i32);
                if parent.is_none_or(|p| job::die_with_parent(p).is_err()) {
                    sys::exit_now(1);
                }
                // SIGINT ends the child with 1, as `KeyboardInterrupt` would
                // (`run_prepared` finds this handler in place).
                sys::interrupt::exit_1_on_sigint();
                held.release();
                return Some(prepared);
            }
            Ok(Some((pid, pidfd))) => Reply::Started {
                pid,
                pidfd: Fd::from(pidfd),
            },
            Err(e) => Reply::Failed(format!("fork failed: {e}")),
        };
        // A client that vanished is noticed on its next poll.
        let _ = self.clients[client].send(&reply);
        None
    }
}

/// The forkserver's pid and address, if one is running (for tests that
/// kill it or knock on its door).
pub(crate) fn running_info() -> Option<(u32, Address)> {
    let slot = lock();
    slot.as_ref()
        .map(|h| (h.process.pid, h.setup.address.clone()))
}

#[cfg(test)]
mod tests {
    //! Raw-socket peers that speak mp_pipe's handshake by hand: a fake
    //! client against the real forkserver, and a fake forkserver against
    //! the real client (`connect`). The framing is mp_pipe's: a 12-byte
    //! header (payload length as a `u64` LE, descriptor count as a `u32`
    //! LE), then the payload.

    use std::io::{Read, Write};
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::net::{SocketAddr, UnixListener, UnixStream};

    use super::*;
    use crate::process::Process;

    const HELLO: &[u8] = b"#MP-HELLO-2#";
    const CHALLENGE: &[u8] = b"#MP-CHALLENGE-2#";
    /// The message size limit the fakes announce (none).
    const LIMIT: [u8; 8] = u64::MAX.to_le_bytes();
    const WELCOME: &[u8] = b"#WELCOME#";
    const FAILURE: &[u8] = b"#FAILURE#";
    const T: Duration = Duration::from_secs(10);

    fn write_frame(stream: &mut UnixStream, payload: &[u8]) {
        let mut frame = (payload.len() as u64).to_le_bytes().to_vec();
        frame.extend_from_slice(&0u32.to_le_bytes());
        frame.extend_from_slice(payload);
        stream.write_all(&frame).unwrap();
    }

    /// The next frame's payload; `None` at end of file.
    fn read_frame(stream: &mut UnixStream) -> Option<Vec<u8>> {
        let mut header = [0u8; 12];
        match stream.read_exact(&mut header) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return None,
            Err(e) => panic!("reading a frame: {e}"),
        }
        let len = u64::from_le_bytes(header[..8].try_into().unwrap());
        assert!(len <= 256, "a {len}-byte handshake frame");
        let mut payload = vec![0u8; len as usize];
        stream.read_exact(&mut payload).unwrap();
        Some(payload)
    }

    fn socket_address(address: &Address) -> SocketAddr {
        let Address::Abstract(name) = address else {
            panic!("the forkserver listens on an abstract address: {address:?}")
        };
        SocketAddr::from_abstract_name(name).unwrap()
    }

    fn returns() {}

    /// The address of this process's forkserver, started if need be.
    fn forkserver_address() -> Address {
        let mut p = Process::new(returns, ()).start_method(StartMethod::Forkserver);
        p.start().unwrap();
        assert_eq!(p.join_timeout(T).unwrap(), Some(0));
        running_info().expect("a forkserver runs").1
    }

    /// A raw connection to the forkserver that said hello, and the
    /// challenge the forkserver sent (`CHALLENGE ++ limit ++ nonce`).
    fn challenged(address: &Address) -> (UnixStream, Vec<u8>) {
        let mut stream = UnixStream::connect_addr(&socket_address(address)).unwrap();
        stream.set_read_timeout(Some(T)).unwrap();
        write_frame(&mut stream, &[HELLO, &LIMIT].concat());
        let challenge = read_frame(&mut stream).expect("a challenge");
        assert!(challenge.starts_with(CHALLENGE), "{challenge:?}");
        assert_eq!(challenge.len(), CHALLENGE.len() + LIMIT.len() + 32);
        (stream, challenge)
    }

    /// The forkserver told the fake client it failed, then hung up.
    fn refused(stream: &mut UnixStream) {
        assert_eq!(read_frame(stream).as_deref(), Some(FAILURE));
        assert_eq!(read_frame(stream), None, "the connection stays open");
    }

    #[test]
    fn the_forkserver_refuses_a_client_that_answers_its_challenge_wrong() {
        let _d = mp_testkit::deadline(Duration::from_secs(60));
        let address = forkserver_address();
        // A digest of the right length that is not HMAC(key, label ++ nonce).
        let (mut stream, _) = challenged(&address);
        write_frame(&mut stream, &[0x5a; 32]);
        refused(&mut stream);
        // Reflection: the forkserver's own challenge sent back as the answer.
        let (mut stream, challenge) = challenged(&address);
        write_frame(&mut stream, &challenge);
        refused(&mut stream);
        // It serves the clients that hold its key as before.
        let mut p = Process::new(returns, ()).start_method(StartMethod::Forkserver);
        p.start().unwrap();
        assert_eq!(p.join_timeout(T).unwrap(), Some(0));
    }

    /// A fake forkserver at a fresh address, and the setup that names it.
    fn fake_forkserver() -> (UnixListener, ForkserverSetup) {
        let address = Address::unique();
        let listener = UnixListener::bind_addr(&socket_address(&address)).unwrap();
        let setup = ForkserverSetup {
            address,
            authkey: mp_pipe::random_authkey(),
        };
        (listener, setup)
    }

    fn accept(listener: &UnixListener) -> UnixStream {
        let (stream, _) = listener.accept().unwrap();
        stream.set_read_timeout(Some(T)).unwrap();
        stream
    }

    /// Plays the server up to the client's challenge, which it returns;
    /// the fake's own challenge is `nonce`. Also returns the digest the
    /// client answered `nonce` with.
    fn welcome(stream: &mut UnixStream, nonce: &[u8]) -> (Vec<u8>, Vec<u8>) {
        let hello = read_frame(stream).expect("the client's hello");
        assert!(hello.starts_with(HELLO), "{hello:?}");
        write_frame(stream, &[CHALLENGE, &LIMIT, nonce].concat());
        let digest = read_frame(stream).expect("the client's digest");
        // The fake cannot check it (it has no key), and lets it pass.
        write_frame(stream, WELCOME);
        let challenge = read_frame(stream).expect("the client's challenge");
        let nonce = challenge
            .strip_prefix(CHALLENGE)
            .expect("a challenge")
            .to_vec();
        (digest, nonce)
    }

    fn authentication_failed(outcome: Result<Connection>) {
        assert!(
            matches!(outcome, Err(Error::Pipe(mp_pipe::Error::Authentication(_)))),
            "{outcome:?}"
        );
    }

    #[test]
    fn a_client_refuses_a_forkserver_that_answers_its_challenge_wrong() {
        let _d = mp_testkit::deadline(Duration::from_secs(60));
        let (listener, setup) = fake_forkserver();
        let client = std::thread::spawn(move || connect(&setup));
        let mut stream = accept(&listener);
        welcome(&mut stream, &[7; 32]);
        write_frame(&mut stream, &[0x5a; 32]);
        authentication_failed(client.join().unwrap());
        assert_eq!(read_frame(&mut stream).as_deref(), Some(FAILURE));
    }

    #[test]
    fn a_client_refuses_a_forkserver_that_replays_the_clients_own_digest() {
        let _d = mp_testkit::deadline(Duration::from_secs(60));
        let (listener, setup) = fake_forkserver();
        // On one connection: the client's answer to the fake's challenge,
        // sent back as the fake's answer to the client's challenge.
        let one = setup.clone();
        let client = std::thread::spawn(move || connect(&one));
        let mut stream = accept(&listener);
        let (digest, _) = welcome(&mut stream, &[7; 32]);
        write_frame(&mut stream, &digest);
        authentication_failed(client.join().unwrap());

        // Across two connections (reflection): the first client's challenge
        // is put to a second client, and its answer replayed to the first.
        let (first_setup, second_setup) = (setup.clone(), setup);
        let first = std::thread::spawn(move || connect(&first_setup));
        let mut first_stream = accept(&listener);
        let (_, first_nonce) = welcome(&mut first_stream, &[7; 32]);
        let second = std::thread::spawn(move || connect(&second_setup));
        let mut second_stream = accept(&listener);
        let (answer, _) = welcome(&mut second_stream, &first_nonce);
        write_frame(&mut first_stream, &answer);
        authentication_failed(first.join().unwrap());
        drop(second_stream);
        authentication_failed(second.join().unwrap());
    }
}
