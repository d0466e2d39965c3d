//! A real SFTP server per test: Debian's OpenSSH `sshd` on a free loopback port, with a throwaway host key
//! and client key made by `ssh-keygen` in a directory of the test's own, `internal-sftp` as the SFTP
//! subsystem, key authentication for the current user (root on the development and CI machines). It can
//! be killed (with every connection process it forked) and started again on the same port, the way a
//! server restart looks to a client.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

const SSHD: &str = "/usr/sbin/sshd";
const INSTALL: &str =
    "install it with `apt-get install openssh-server` (`.ci/run` does when /usr/sbin/sshd is missing)";

/// How long the server may take to start on a loaded machine.
const START_DEADLINE: Duration = Duration::from_secs(60);

/// One running (or stopped) sshd and its files.
pub struct SftpServer {
    /// The test's directory: keys, config, and `data/`, where tests put and find files.
    pub dir: PathBuf,
    /// The loopback port it listens on (kept across restarts).
    pub port: u16,
    /// The client's private key (no passphrase), authorised for the current user.
    pub client_key: PathBuf,
    /// A known_hosts file listing the server's host key for `[127.0.0.1]:port`.
    pub known_hosts: PathBuf,
    /// The host key's SHA-256 fingerprint as `ssh-keygen -l` prints it.
    pub fingerprint: String,
    /// The current user's name, which the configs log in as.
    pub user: String,
    child: Option<Child>,
    /// Every line sshd logged, for the failure messages and the tests that read them.
    pub log: Arc<Mutex<Vec<String>>>,
}

fn run(program: &str, args: &[&str]) -> String {
    let out =
        Command::new(program).args(args).output().unwrap_or_else(|e| panic!("cannot run {program} ({e}); {INSTALL}"));
    assert!(out.status.success(), "{program} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// Generates an Ed25519 key pair at `path` (and `path.pub`).
pub fn keygen(path: &Path) {
    run("ssh-keygen", &["-q", "-t", "ed25519", "-N", "", "-C", "relais-test", "-f", &path.display().to_string()]);
}

impl SftpServer {
    /// Starts a server in a fresh directory; panics, saying how to install it, when sshd is missing.
    pub fn start() -> SftpServer {
        assert!(Path::new(SSHD).exists(), "{SSHD} is missing; {INSTALL}");
        // sshd insists on its privilege separation directory, even for a server of the test's own.
        std::fs::create_dir_all("/run/sshd").unwrap_or_else(|e| panic!("cannot create /run/sshd ({e})"));
        let dir = super::write_files(&[]);
        std::fs::create_dir_all(dir.join("data")).unwrap();
        keygen(&dir.join("host_key"));
        keygen(&dir.join("client_key"));
        std::fs::copy(dir.join("client_key.pub"), dir.join("authorized_keys")).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let host_pub = std::fs::read_to_string(dir.join("host_key.pub")).unwrap();
        let known_hosts = dir.join("known_hosts");
        std::fs::write(&known_hosts, format!("[127.0.0.1]:{port} {host_pub}")).unwrap();
        let fingerprint = run("ssh-keygen", &["-l", "-f", &dir.join("host_key.pub").display().to_string()])
            .split_whitespace()
            .nth(1)
            .unwrap()
            .to_string();
        let user = run("id", &["-un"]).trim().to_string();
        let d = dir.display();
        std::fs::write(
            dir.join("sshd_config"),
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_key\nPidFile {d}/sshd.pid\n\
                 AuthorizedKeysFile {d}/authorized_keys\nStrictModes no\nUsePAM no\nPermitRootLogin yes\n\
                 PasswordAuthentication yes\nKbdInteractiveAuthentication no\nMaxStartups 100\n\
                 Subsystem sftp internal-sftp\nLogLevel VERBOSE\n"
            ),
        )
        .unwrap();
        let mut server = SftpServer {
            client_key: dir.join("client_key"),
            known_hosts,
            fingerprint,
            user,
            dir,
            port,
            child: None,
            log: Arc::default(),
        };
        server.resume();
        server
    }

    /// The directory files are put in and found, as a path the server sees.
    pub fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// An `sftp` config for this server in flow YAML (flow-style map), logging in with the client key and
    /// checking the host key against `known_hosts`.
    pub fn config(&self) -> String {
        format!(
            "sftp: {{ host: 127.0.0.1, port: {}, user: {}, private_key: \"{}\", known_hosts: \"{}\", connect_timeout: 10s, timeout: 5s }}",
            self.port,
            self.user,
            self.client_key.display(),
            self.known_hosts.display()
        )
    }

    /// Starts sshd again on the same port, and waits until it listens.
    pub fn resume(&mut self) {
        assert!(self.child.is_none(), "the server runs already");
        let mut child = Command::new(SSHD)
            .args(["-D", "-e", "-f"])
            .arg(self.dir.join("sshd_config"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {SSHD} ({e}); {INSTALL}"));
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        let log = self.log.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
                log.lock().unwrap().push(line.clone());
                let _ = tx.send(line);
            }
        });
        let until = Instant::now() + START_DEADLINE;
        loop {
            assert!(Instant::now() < until, "sshd did not start listening; it logged:\n{}", self.logged());
            match rx.recv_timeout(Duration::from_millis(50)) {
                Ok(line) if line.contains("Server listening") => break,
                Ok(_) | Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    panic!("sshd stopped at start; it logged:\n{}", self.logged())
                }
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!("sshd exited at start ({status}); it logged:\n{}", self.logged());
            }
        }
        self.child = Some(child);
    }

    /// Kills sshd and every connection process it forked (SIGKILL), as a crash or a pulled cable looks
    /// to the client: the connections break, nothing listens on the port until [`SftpServer::resume`].
    pub fn kill(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        let mut family = descendants(child.id());
        family.push(child.id());
        for pid in family.iter().rev() {
            let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).stderr(Stdio::null()).status();
        }
        let _ = child.wait();
    }

    /// Everything sshd logged so far.
    pub fn logged(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }
}

/// The processes descended from `pid`, read from `/proc`.
fn descendants(pid: u32) -> Vec<u32> {
    let mut parents: Vec<(u32, u32)> = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(id) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        // `pid (comm) state ppid ...`: the name may hold spaces, so read after the last `)`.
        let ppid = stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse().ok());
        if let Some(ppid) = ppid {
            parents.push((id, ppid));
        }
    }
    let mut found = Vec::new();
    let mut frontier = vec![pid];
    while let Some(p) = frontier.pop() {
        for (child, _) in parents.iter().filter(|(_, parent)| *parent == p) {
            found.push(*child);
            frontier.push(*child);
        }
    }
    found
}

impl Drop for SftpServer {
    fn drop(&mut self) {
        self.kill();
    }
}
