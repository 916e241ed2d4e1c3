//! A ping-pong with a child process, the reply awaited (`get_async`) on
//! tokio's current-thread runtime: a fixed workload for counting the
//! system calls of an awaited get (`strace -c -f`), beside the same with a
//! blocking `get` (`awaited_ping_pong <n> blocking`).

use mp_process::Process;
use mp_queue::Queue;

fn echo(requests: Queue<u64>, replies: Queue<u64>) {
    while let Ok(v) = requests.get() {
        if replies.put(&v).is_err() {
            break;
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000);
    let blocking = std::env::args().nth(2).as_deref() == Some("blocking");
    let (requests, replies) = (Queue::new()?, Queue::new()?);
    let mut child = Process::new(echo, (requests.clone(), replies.clone()));
    child.start()?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()?;
    let mut sum = 0u64;
    for i in 0..n {
        requests.put(&i)?;
        sum += if blocking {
            replies.get()?
        } else {
            rt.block_on(replies.get_async())?
        };
    }
    requests.shutdown(false);
    child.join()?;
    println!("{sum}");
    Ok(())
}
