//! `log.format = "json"` on the real `samsyn-gateway serve`: every line on
//! stderr is one JSON object with the documented fields, and the privacy
//! rules hold (no token, no SDP, no label, no name at the default level).
//!
//! No media flows: rooms are made and ended over the CLI and the API, and
//! WHIP/WHEP offers are refused (a wrong token, an offer without media).

mod support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::Value;
use support::{free_tcp_port, gateway_binary, health, runtime, stop};

const LABEL: &str = "Hjemmebesok sone nord JSONLOGLABEL";
const API_LABEL: &str = "Second room APILABEL";
const NAME: &str = "Dr. Jsonlog Berg";
const API_NAME: &str = "Observer Apiname";
/// An offer that parses as SDP but offers no media.
const OFFER_WITHOUT_MEDIA: &str =
    "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=SDPSESSIONNAME\r\nt=0 0\r\n";

/// `samsyn-gateway` with its stderr collected line by line.
struct LoggingGateway {
    child: Child,
    reader: Option<JoinHandle<()>>,
    lines: Arc<Mutex<Vec<String>>>,
    data_dir: tempfile::TempDir,
    /// An empty system config directory, so no installed file is read.
    system_dir: tempfile::TempDir,
    base_url: String,
}

impl LoggingGateway {
    /// Starts `serve` logging JSON; `filter` is `SAMSYN_LOG`, `None` for
    /// the built-in default (what IT's collector gets).
    fn start(filter: Option<&str>) -> Self {
        let data_dir = tempfile::tempdir().unwrap();
        let system_dir = tempfile::tempdir().unwrap();
        let port = free_tcp_port();
        let udp_port = std::net::UdpSocket::bind("127.0.0.1:0")
            .and_then(|socket| socket.local_addr())
            .expect("a free UDP port")
            .port();
        let base_url = format!("http://127.0.0.1:{port}");
        let mut command = cli(&data_dir, &system_dir, &base_url, "serve");
        command
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--media-udp-port", &udp_port.to_string()])
            .args(["--media-address", "127.0.0.1"])
            .env_remove("SAMSYN_LOG")
            .env_remove("RUST_LOG")
            .env("SAMSYN_LOG__FORMAT", "json")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some(filter) = filter {
            command.env("SAMSYN_LOG", filter);
        }
        let mut child = command.spawn().expect("samsyn-gateway starts");
        let stderr = child.stderr.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                sink.lock().unwrap().push(line);
            }
        });
        let gateway = LoggingGateway {
            child,
            reader: Some(reader),
            lines,
            data_dir,
            system_dir,
            base_url,
        };
        assert!(
            health::wait_healthy(
                gateway.base_url.trim_start_matches("http://"),
                Duration::from_secs(10)
            ),
            "samsyn-gateway did not answer /healthz; its log:\n{}",
            gateway.lines.lock().unwrap().join("\n")
        );
        gateway
    }

    /// `samsyn-gateway <subcommand> <args>` on this gateway's data; its stdout as JSON.
    fn run(&self, subcommand: &str, args: &[&str]) -> Value {
        let output = cli(&self.data_dir, &self.system_dir, &self.base_url, subcommand)
            .args(args)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).expect("--json prints JSON")
    }

    /// Stops the gateway (SIGTERM) and returns every line it wrote to stderr.
    fn stop(mut self) -> Vec<String> {
        stop(&mut self.child);
        if let Some(reader) = self.reader.take() {
            reader.join().unwrap();
        }
        std::mem::take(&mut *self.lines.lock().unwrap())
    }
}

impl Drop for LoggingGateway {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}

/// The gateway binary with nothing from the caller's `SAMSYN_*` environment.
fn cli(
    data_dir: &tempfile::TempDir,
    system_dir: &tempfile::TempDir,
    base_url: &str,
    subcommand: &str,
) -> Command {
    let mut command = Command::new(gateway_binary());
    for (key, _) in std::env::vars() {
        if key.starts_with("SAMSYN_") {
            command.env_remove(key);
        }
    }
    command
        .args(subcommand.split(' '))
        .arg("--data-dir")
        .arg(data_dir.path())
        .args(["--public-url", base_url])
        .env("SAMSYN_SYSTEM_CONFIG_DIR", system_dir.path())
        .env("SAMSYN_LIMITS__REQUESTS_PER_MINUTE", "6000")
        .env("SAMSYN_LIMITS__REQUEST_BURST", "1000");
    command
}

/// Every string under a key that names a token, anywhere in `value`.
fn tokens_in(value: &Value, found: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                match value {
                    Value::String(text) if key.contains("token") => found.push(text.clone()),
                    other => tokens_in(other, found),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| tokens_in(item, found)),
        _ => {}
    }
}

#[test]
fn json_log_lines_are_objects_with_stable_fields_and_no_secrets() {
    let events = log_of_a_session(None);
    assert!(
        events
            .iter()
            .any(|e| e["fields"]["message"] == "room created over the API"
                && e["span"]["route"] == "/api/rooms"
                && e["span"]["method"] == "POST"),
        "the API's events carry the request's span:\n{events:#?}"
    );
}

/// Everything at info, the HTTP layer's per-request events included.
#[test]
fn json_log_at_info_for_every_crate_keeps_the_privacy_rules() {
    let events = log_of_a_session(Some("info"));
    assert!(
        events.iter().any(|e| e["span"]["route"] == "/whip/{room}"
            && e["fields"]["status"] == 401
            && e["target"]
                .as_str()
                .is_some_and(|t| t.starts_with("tower_http"))),
        "a refused WHIP request is logged with its route:\n{events:#?}"
    );
}

/// Runs a gateway logging JSON through rooms made over the CLI and the
/// API, named tokens and refused offers; checks every line for the stable
/// fields and for anything private; returns the events.
fn log_of_a_session(filter: Option<&str>) -> Vec<Value> {
    let gateway = LoggingGateway::start(filter);
    let mut secrets: Vec<String> = Vec::new();

    let invite = gateway.run("room create", &["--label", LABEL, "--json"]);
    tokens_in(&invite, &mut secrets);
    let room = invite["room"].as_str().unwrap().to_owned();
    let admin = gateway.run("token create", &["--role", "admin", "--json"]);
    let admin_token = admin["token"].as_str().unwrap().to_owned();
    let named = gateway.run(
        "token create",
        &[
            "--role",
            "specialist",
            "--room",
            &room,
            "--name",
            NAME,
            "--json",
        ],
    );
    tokens_in(&named, &mut secrets);
    secrets.push(admin_token.clone());
    let publisher = invite["publisher_token"].as_str().unwrap().to_owned();
    let viewer = invite["viewer_token"].as_str().unwrap().to_owned();

    let base = gateway.base_url.clone();
    let api_tokens = runtime().block_on(async {
        let client = reqwest::Client::new();
        let mut found = Vec::new();
        let listed = client
            .get(format!("{base}/api/rooms"))
            .bearer_auth(&admin_token)
            .send()
            .await
            .unwrap();
        assert_eq!(listed.status(), 200);

        let created = client
            .post(format!("{base}/api/rooms"))
            .bearer_auth(&admin_token)
            .json(&serde_json::json!({ "label": API_LABEL, "ttl_hours": 1 }))
            .send()
            .await
            .unwrap();
        assert!(created.status().is_success(), "{}", created.status());
        let created: Value = created.json().await.unwrap();
        tokens_in(&created, &mut found);
        let api_room = created["room"].as_str().unwrap().to_owned();

        let observer = client
            .post(format!("{base}/api/rooms/{api_room}/tokens"))
            .bearer_auth(&admin_token)
            .json(&serde_json::json!({ "role": "observer", "name": API_NAME }))
            .send()
            .await
            .unwrap();
        assert!(observer.status().is_success(), "{}", observer.status());
        tokens_in(&observer.json().await.unwrap(), &mut found);

        // Refused offers: a token that is not one, and offers without media.
        for (path, token, expected) in [
            (format!("whip/{room}"), "not-a-token-BADTOKEN", 401),
            (format!("whip/{room}"), publisher.as_str(), 400),
            (format!("whep/{room}"), viewer.as_str(), 400),
        ] {
            let refused = client
                .post(format!("{base}/{path}"))
                .bearer_auth(token)
                .header("content-type", "application/sdp")
                .body(OFFER_WITHOUT_MEDIA)
                .send()
                .await
                .unwrap();
            assert_eq!(refused.status().as_u16(), expected, "POST /{path}");
        }

        let ended = client
            .delete(format!("{base}/api/rooms/{api_room}"))
            .bearer_auth(&admin_token)
            .send()
            .await
            .unwrap();
        assert!(ended.status().is_success(), "{}", ended.status());
        found
    });
    secrets.extend(api_tokens);
    secrets.push("not-a-token-BADTOKEN".to_owned());
    assert!(secrets.len() >= 8, "tokens collected: {secrets:?}");

    let lines = gateway.stop();
    let log = lines.join("\n");
    assert!(lines.len() >= 4, "ready, two API events, stopped:\n{log}");

    for line in &lines {
        let event: Value = serde_json::from_str(line)
            .unwrap_or_else(|err| panic!("not one JSON object ({err}): {line}"));
        let timestamp = event["timestamp"].as_str().unwrap_or_default();
        assert!(
            timestamp.len() >= 20 && timestamp.as_bytes()[10] == b'T' && timestamp.ends_with('Z'),
            "timestamp is RFC 3339 UTC: {line}"
        );
        assert!(
            ["ERROR", "WARN", "INFO", "DEBUG", "TRACE"]
                .contains(&event["level"].as_str().unwrap_or_default()),
            "level: {line}"
        );
        assert!(
            event["target"].as_str().is_some_and(|t| !t.is_empty()),
            "target: {line}"
        );
        assert!(
            event["fields"]["message"].is_string(),
            "fields.message: {line}"
        );
        if let Some(span) = event.get("span") {
            assert!(span["name"].is_string(), "span.name: {line}");
        }
    }
    for secret in &secrets {
        assert!(
            !log.contains(secret.as_str()),
            "a token is in the log: {secret}\n{log}"
        );
    }
    for private in [
        "v=0",
        "SDPSESSIONNAME",
        "4611731400430051336",
        LABEL,
        "JSONLOGLABEL",
        API_LABEL,
        "APILABEL",
        NAME,
        "Jsonlog",
        API_NAME,
        "Apiname",
    ] {
        assert!(!log.contains(private), "{private:?} is in the log:\n{log}");
    }
    lines
        .iter()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// `--print-config` of `serve` names the system file it read; the system
/// file is read by every subcommand (here `room create` finds the data
/// directory and the public URL in it).
#[test]
fn every_subcommand_reads_the_system_config_file() {
    let system_dir = tempfile::tempdir().unwrap();
    let data_dir = tempfile::tempdir().unwrap();
    let file = system_dir.path().join("gateway.toml");
    std::fs::write(
        &file,
        format!(
            "data_dir = {:?}\npublic_url = \"http://127.0.0.1:9\"\n[log]\nformat = \"json\"\n",
            data_dir.path().display().to_string()
        ),
    )
    .unwrap();
    let gateway = |args: &[&str]| {
        let mut command = Command::new(gateway_binary());
        for (key, _) in std::env::vars() {
            if key.starts_with("SAMSYN_") {
                command.env_remove(key);
            }
        }
        command
            .args(args)
            .env("SAMSYN_SYSTEM_CONFIG_DIR", system_dir.path())
            .output()
            .unwrap()
    };

    let printed = gateway(&["serve", "--print-config"]);
    let text = String::from_utf8_lossy(&printed.stdout);
    let first = text.lines().next().unwrap_or_default();
    assert!(first.starts_with("# config files read"), "{text}");
    assert!(
        text.contains(&format!(
            "#   {} (the system-wide config file)",
            file.display()
        )),
        "{text}"
    );
    assert!(text.contains("format = \"json\""), "{text}");

    let created = gateway(&["room", "create", "--json"]);
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let invite: Value = serde_json::from_slice(&created.stdout).unwrap();
    assert!(
        invite["viewer_link"]
            .as_str()
            .unwrap()
            .starts_with("http://127.0.0.1:9/"),
        "{invite}"
    );
    assert!(
        has_files(&data_dir.path().join("keys")),
        "the data directory came from the file"
    );

    // --config replaces it: the named file alone is read.
    let named = system_dir.path().join("other.toml");
    std::fs::write(&named, "[log]\nformat = \"text\"\n").unwrap();
    let printed = gateway(&[
        "serve",
        "--print-config",
        "--config",
        named.to_str().unwrap(),
    ]);
    let text = String::from_utf8_lossy(&printed.stdout);
    assert!(text.contains("(named by --config)"), "{text}");
    assert!(!text.contains("system-wide"), "{text}");
    assert!(text.contains("data_dir = \"samsyn-data\""), "{text}");

    // A system file that cannot be read stops every subcommand with its name.
    std::fs::remove_file(&file).unwrap();
    std::fs::create_dir(&file).unwrap();
    let refused = gateway(&["audit"]);
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains(&format!(
            "config file {} (the system-wide config file) cannot be read",
            file.display()
        )),
        "{err}"
    );
}

fn has_files(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|mut entries| entries.next().is_some())
}
