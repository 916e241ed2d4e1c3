//! Every re-export of the facade resolves to the crate it names.

use std::time::Duration;

#[test]
fn modules_are_the_crates() {
    let _d = mp_testkit::deadline(Duration::from_secs(10));
    let _: fn() -> Result<(mp::pipe::Connection, mp::pipe::Connection), mp::pipe::Error> =
        mp::pipe::pipe;
    let _: Option<mp::process::StartMethod> = None;
    let _: Option<mp::queue::Error> = None;
    let _: Option<mp::shm::Error> = None;
    let _: Option<mp::manager::Error> = None;
    let _: Option<mp::handle::Fd> = None;
    let _: Option<mp::pool::Error> = None;
}

#[test]
fn pool_proxies_and_serde_are_at_the_top() {
    let _d = mp_testkit::deadline(Duration::from_secs(60));
    fn square(x: u32) -> u32 {
        x * x
    }
    let pool = mp::Pool::new(1).unwrap();
    let result: mp::AsyncResult<u32> = pool.apply_async(square, (3,)).unwrap();
    assert_eq!(result.get().unwrap(), 9);
    let threads = mp::ThreadPool::new(1).unwrap();
    assert_eq!(threads.apply(square, (4,)).unwrap(), 16);
    let manager = mp::Manager::start().unwrap();
    let list: mp::ListProxy<u32> = manager.list().unwrap();
    list.append(&1).unwrap();
    let _: Option<mp::DictProxy<u32, u32>> = None;
    let _: Option<mp::QueueProxy<u32>> = None;
    let _: Option<mp::ValueProxy<u32>> = None;
    let _: Option<mp::Namespace> = None;
    let _: Option<mp::SharedProxy> = None;
    let _: Option<mp::SharedMemoryManager> = None;
    let _: Option<mp::RemoteIter<u32>> = None;
    // `mp::serde` is the serde mp encodes with.
    #[derive(mp::serde::Serialize)]
    #[serde(crate = "mp::serde")]
    struct Point {
        x: u32,
    }
    let (a, b) = mp::pipe().unwrap();
    a.send(&Point { x: 7 }).unwrap();
    assert_eq!(b.recv::<u32>().unwrap(), 7);
}

#[test]
fn top_level_names_work() {
    let _d = mp_testkit::deadline(Duration::from_secs(60));
    let (a, b) = mp::pipe().unwrap();
    a.send(&1u8).unwrap();
    assert_eq!(b.recv::<u8>().unwrap(), 1);
    let (_r, _w) = mp::pipe_simplex().unwrap();
    assert!(mp::wait(&[&b], Some(Duration::ZERO)).unwrap().is_empty());
    let q: mp::Queue<u8> = mp::Queue::new().unwrap();
    let _: mp::SimpleQueue<u8> = mp::SimpleQueue::new().unwrap();
    let _: mp::JoinableQueue<u8> = mp::JoinableQueue::new().unwrap();
    q.put(&2).unwrap();
    assert_eq!(q.get().unwrap(), 2);
    let v = mp::Value::new(3i64).unwrap();
    assert_eq!(*v.lock().unwrap(), 3);
    let _ = mp::Array::<f64>::zeroed(3).unwrap();
    let _ = mp::RawValue::<u32>::new(0).unwrap();
    let _ = mp::RawArray::<u8>::zeroed(4).unwrap();
    let _ = mp::Lock::new().unwrap();
    let _ = mp::RLock::new().unwrap();
    let _ = mp::Semaphore::new(1).unwrap();
    let _ = mp::BoundedSemaphore::new(1).unwrap();
    let _ = mp::Condition::new().unwrap();
    let _ = mp::Event::new().unwrap();
    let _ = mp::Barrier::new(1).unwrap();
    let _: Option<mp::ShareableList> = None;
    let _: Option<mp::SharedMemory> = None;
    assert!(mp::cpu_count() >= 1);
    assert_eq!(mp::current_process().name(), "MainProcess");
    assert!(mp::parent_process().is_none());
    let _ = mp::active_children();
    assert_eq!(mp::get_start_method(), mp::StartMethod::Forkserver);
    let _ = mp::get_context(None);
    let _ = mp::set_start_method;
    assert!(mp::set_executable("/bin/true").is_err());
    let _: Option<mp::Context> = None;
    fn double(x: u32) -> u32 {
        x * 2
    }
    let h: mp::JoinHandle<u32> = mp::spawn(double, (21,)).unwrap();
    assert_eq!(h.join().unwrap(), 42);
    let mut p = mp::Process::new(double, (1,));
    p.start().unwrap();
    assert_eq!(p.join().unwrap(), 0);
    let _: Option<mp::Listener> = None;
    let _: Option<mp::Client> = None;
    let _: Option<mp::Manager> = None;
    let _: Option<mp::BaseManager> = None;
    fn _is_run<T: mp::Run>() {}
}

#[cfg(feature = "python")]
#[test]
fn python_is_mp_python() {
    let _d = mp_testkit::deadline(Duration::from_secs(10));
    let _: fn(&[u8]) -> mp::python::Result<mp::python::PyValue> = mp::python::decode;
    let _: Option<mp::python::PyConnection> = None;
}
