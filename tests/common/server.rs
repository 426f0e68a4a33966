//! A small, real HTTP/1.1 server on 127.0.0.1 for tests and the `flag_server` example:
//! one thread per connection, one request per connection (`Connection: close`), faults
//! on demand (hang, truncated body), and server-sent event streams. It stops (and
//! releases every connection) when dropped.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A request as the server received it.
#[derive(Debug, Clone)]
pub struct Received {
    /// `GET`, `POST`, …
    pub method: String,
    /// Path and query, e.g. `/sdk/v2/flags?v=0`.
    pub target: String,
    /// Headers, names lower-cased.
    pub headers: HashMap<String, String>,
    /// The body.
    pub body: Vec<u8>,
    /// When the request arrived.
    pub at: Instant,
}

impl Received {
    /// A header by lower-case name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    /// The path without the query.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }
}

/// What to answer.
pub enum Reply {
    /// A complete response.
    Full {
        /// The status code.
        status: u16,
        /// Extra headers.
        headers: Vec<(String, String)>,
        /// The body.
        body: Vec<u8>,
    },
    /// Never answer; hold the connection until the server stops.
    Hang,
    /// Announce `body.len() + missing` bytes, send `body`, close.
    Truncated {
        /// The bytes actually sent.
        body: Vec<u8>,
        /// How many announced bytes never come.
        missing: usize,
    },
    /// A server-sent events stream: `first` (if any) sent at once as an event, then
    /// whatever [`Server::broadcast`] sends, until [`Server::kill_streams`] or the stop.
    Stream {
        /// The first event's data.
        first: Option<String>,
    },
    /// A stream that sends `first` (if any) as an event, then `chunk` every `every`
    /// until the server stops or the client goes away.
    Trickle {
        /// The first event's data.
        first: Option<String>,
        /// Bytes sent again and again.
        chunk: Vec<u8>,
        /// The pause between chunks.
        every: Duration,
    },
    /// Raw bytes (status line and headers included), written `piece` bytes at a time with
    /// `pause` in between; then the connection closes, with a TCP reset when `reset`.
    Raw {
        /// Everything sent.
        bytes: Vec<u8>,
        /// Bytes per write.
        piece: usize,
        /// The pause after each write.
        pause: Duration,
        /// End with a reset (RST) instead of an orderly close.
        reset: bool,
    },
}

impl Reply {
    /// A JSON (or any text) response with a status.
    pub fn text(status: u16, body: impl Into<String>) -> Reply {
        Reply::Full {
            status,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: body.into().into_bytes(),
        }
    }
}

/// Messages to a connected stream.
enum StreamMessage {
    Event(String),
    Close,
}

type Handler = dyn Fn(&Received) -> Reply + Send + Sync;

struct Shared {
    stop: AtomicBool,
    log: Mutex<Vec<Received>>,
    streams: Mutex<Vec<Sender<StreamMessage>>>,
    handler: Box<Handler>,
    keepalive: Option<Duration>,
}

/// A running server; stops when dropped.
pub struct Server {
    /// Where it listens.
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

impl Server {
    /// Starts a server on an ephemeral 127.0.0.1 port.
    pub fn start(handler: impl Fn(&Received) -> Reply + Send + Sync + 'static) -> Server {
        Server::start_on(0, None, handler)
    }

    /// Starts a server on `port` (0: ephemeral); streams send a `data: " "` keep-alive
    /// every `keepalive` when given.
    pub fn start_on(
        port: u16,
        keepalive: Option<Duration>,
        handler: impl Fn(&Received) -> Reply + Send + Sync + 'static,
    ) -> Server {
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind 127.0.0.1");
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let addr = listener.local_addr().expect("local address");
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            log: Mutex::new(Vec::new()),
            streams: Mutex::new(Vec::new()),
            handler: Box::new(handler),
            keepalive,
        });
        let accept_shared = Arc::clone(&shared);
        let accept = std::thread::spawn(move || {
            while !accept_shared.stop.load(Ordering::Acquire) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let shared = Arc::clone(&accept_shared);
                        std::thread::spawn(move || serve(stream, &shared));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        Server {
            addr,
            shared,
            accept: Some(accept),
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<Received> {
        self.shared.log.lock().unwrap().clone()
    }

    /// Requests received so far whose path is `path`.
    pub fn requests_to(&self, path: &str) -> Vec<Received> {
        self.requests()
            .into_iter()
            .filter(|r| r.path() == path)
            .collect()
    }

    /// Sends an event to every connected stream.
    pub fn broadcast(&self, data: &str) {
        let mut streams = self.shared.streams.lock().unwrap();
        streams.retain(|s| s.send(StreamMessage::Event(data.to_owned())).is_ok());
    }

    /// Closes every connected stream.
    pub fn kill_streams(&self) {
        for stream in self.shared.streams.lock().unwrap().drain(..) {
            let _ = stream.send(StreamMessage::Close);
        }
    }

    /// How many streams are connected.
    pub fn stream_count(&self) -> usize {
        self.shared.streams.lock().unwrap().len()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        self.kill_streams();
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

fn read_request(stream: &TcpStream) -> Option<Received> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    let target = parts.next()?.to_owned();
    let mut headers = HashMap::new();
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
        }
    }
    let length: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(Received {
        method,
        target,
        headers,
        body,
        at: Instant::now(),
    })
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        304 => "Not Modified",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

fn serve(mut stream: TcpStream, shared: &Shared) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let Some(request) = read_request(&stream) else {
        return;
    };
    shared.log.lock().unwrap().push(request.clone());
    let reply = (shared.handler)(&request);
    let _ = match reply {
        Reply::Full {
            status,
            headers,
            body,
        } => {
            let mut head = format!(
                "HTTP/1.1 {status} {}\r\nContent-Length: {}\r\nConnection: close\r\n",
                reason(status),
                body.len()
            );
            for (name, value) in headers {
                head.push_str(&format!("{name}: {value}\r\n"));
            }
            head.push_str("\r\n");
            stream
                .write_all(head.as_bytes())
                .and_then(|_| stream.write_all(&body))
        }
        Reply::Hang => {
            while !shared.stop.load(Ordering::Acquire) {
                std::thread::sleep(Duration::from_millis(5));
            }
            Ok(())
        }
        Reply::Truncated { body, missing } => {
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len() + missing
            );
            stream
                .write_all(head.as_bytes())
                .and_then(|_| stream.write_all(&body))
        }
        Reply::Stream { first } => run_stream(stream, shared, first),
        Reply::Trickle {
            first,
            chunk,
            every,
        } => {
            let head =
                "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n";
            let mut sent = stream.write_all(head.as_bytes());
            if let Some(first) = first {
                sent = sent.and_then(|_| stream.write_all(sse_event(&first).as_bytes()));
            }
            while sent.is_ok() && !shared.stop.load(Ordering::Acquire) {
                std::thread::sleep(every);
                sent = stream.write_all(&chunk).and_then(|_| stream.flush());
            }
            sent
        }
        Reply::Raw {
            bytes,
            piece,
            pause,
            reset,
        } => write_raw(&mut stream, shared, &bytes, piece, pause, reset),
    };
}

fn write_raw(
    stream: &mut TcpStream,
    shared: &Shared,
    bytes: &[u8],
    piece: usize,
    pause: Duration,
    reset: bool,
) -> std::io::Result<()> {
    for chunk in bytes.chunks(piece.max(1)) {
        if shared.stop.load(Ordering::Acquire) {
            break;
        }
        stream.write_all(chunk)?;
        std::thread::sleep(pause);
    }
    if reset {
        // SO_LINGER with a zero timeout: close() sends RST instead of FIN.
        let linger = libc::linger {
            l_onoff: 1,
            l_linger: 0,
        };
        // SAFETY: a valid socket and a correctly sized option value.
        unsafe {
            libc::setsockopt(
                std::os::fd::AsRawFd::as_raw_fd(stream),
                libc::SOL_SOCKET,
                libc::SO_LINGER,
                std::ptr::addr_of!(linger).cast(),
                std::mem::size_of::<libc::linger>() as libc::socklen_t,
            );
        }
    }
    Ok(())
}

fn run_stream(
    mut stream: TcpStream,
    shared: &Shared,
    first: Option<String>,
) -> std::io::Result<()> {
    let (sender, receiver): (Sender<StreamMessage>, Receiver<StreamMessage>) = channel();
    // Registered before anything is written: once a client has seen the first event, a
    // broadcast or a kill reaches this stream (messages wait in the channel meanwhile).
    shared.streams.lock().unwrap().push(sender);
    stream.write_all(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n",
    )?;
    if let Some(first) = first {
        stream.write_all(sse_event(&first).as_bytes())?;
    }
    let mut last_write = Instant::now();
    loop {
        if shared.stop.load(Ordering::Acquire) {
            return Ok(());
        }
        match receiver.recv_timeout(Duration::from_millis(5)) {
            Ok(StreamMessage::Event(data)) => {
                stream.write_all(sse_event(&data).as_bytes())?;
                last_write = Instant::now();
            }
            Ok(StreamMessage::Close) | Err(RecvTimeoutError::Disconnected) => return Ok(()),
            Err(RecvTimeoutError::Timeout) => {
                if let Some(every) = shared.keepalive {
                    if last_write.elapsed() >= every {
                        stream.write_all(b"data:  \n\n")?;
                        last_write = Instant::now();
                    }
                }
            }
        }
    }
}

/// One SSE event carrying `data` (split over `data:` lines at newlines).
pub fn sse_event(data: &str) -> String {
    let mut event = String::new();
    for line in data.split('\n') {
        event.push_str("data: ");
        event.push_str(line);
        event.push('\n');
    }
    event.push('\n');
    event
}
