//! `relais run` as a child process, for the tests that need the real binary: signals, hot reload from files,
//! a crash that must not take the test runner with it, or what the process writes to standard error.

use std::io::BufRead;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long a test waits for a log line before it fails, printing what was logged: generous, for a loaded
/// 2-core machine running debug builds.
const LOG_DEADLINE: Duration = Duration::from_secs(60);

/// A running `relais run`; killed when dropped, so a failed assertion leaves no process behind.
pub struct RelaisProcess {
    /// The process, for its id and its exit status.
    pub child: Child,
    logs: mpsc::Receiver<String>,
    /// Every line read so far, for the failure messages.
    history: std::cell::RefCell<Vec<String>>,
}

#[allow(dead_code)]
impl RelaisProcess {
    /// Starts `relais run DIR ARGS...` with `RELAIS_LOG` at `log_level` and the extra environment `env`,
    /// reading its standard error line by line on a thread.
    pub fn start(dir: &std::path::Path, args: &[&str], log_level: &str, env: &[(&str, &str)]) -> RelaisProcess {
        let mut child = Command::new(env!("CARGO_BIN_EXE_relais"))
            .arg("run")
            .arg(dir)
            .args(args)
            .envs(env.iter().copied())
            .env("RELAIS_LOG", log_level)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, logs) = mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        RelaisProcess { child, logs, history: Default::default() }
    }

    /// The next log line containing `text`; panics after [`LOG_DEADLINE`], printing what was logged.
    pub fn wait_for_log(&self, text: &str) -> String {
        let until = Instant::now() + LOG_DEADLINE;
        while Instant::now() < until {
            if let Ok(line) = self.logs.recv_timeout(Duration::from_millis(20)) {
                self.history.borrow_mut().push(line.clone());
                if line.contains(text) {
                    return line;
                }
            }
        }
        panic!("no log line with `{text}`; logged:\n{}", self.history.borrow().join("\n"));
    }

    /// The address announced by the next log line containing `text` followed by `http://ADDR`
    /// (`"listening on http://"`, `"admin endpoints on http://"`).
    pub fn wait_for_address(&self, text: &str) -> SocketAddr {
        let line = self.wait_for_log(text);
        let at = line.find(text).unwrap() + text.len();
        let addr: String = line[at..].chars().take_while(|c| c.is_ascii_digit() || *c == '.' || *c == ':').collect();
        addr.parse().unwrap_or_else(|e| panic!("no address after `{text}` in `{line}`: {e}"))
    }

    /// Every line logged until the process ends or stays quiet for `quiet`.
    pub fn drain_logs(&self, quiet: Duration) -> String {
        while let Ok(line) = self.logs.recv_timeout(quiet) {
            self.history.borrow_mut().push(line);
        }
        self.history.borrow().join("\n")
    }

    /// Sends the signal `name` (`TERM`, `HUP`, ...).
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill").arg(format!("-{name}")).arg(self.child.id().to_string()).status().unwrap();
        assert!(status.success());
    }

    /// Stops the process with SIGTERM, waits for it, and returns everything it logged.
    pub fn stop(mut self) -> String {
        self.signal("TERM");
        let _ = self.child.wait();
        self.drain_logs(Duration::from_secs(5))
    }
}

impl Drop for RelaisProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
