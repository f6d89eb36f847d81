//! The nurse screen's page in headless Chromium
//! (`tests/browser/nurse-screen.mjs`), against the real screen server fed
//! by this test: a live consultation at 1366×768 and 1920×1080, in Bokmål
//! and English (chosen by the browser's language and by `?lang=`); what
//! it shows, and the commands its buttons send. Screenshots go to
//! `test-artifacts/nurse-screen-<lang>-<w>x<h>*.png`.
//!
//! And the word catalogue (`capture/web/screen/strings.js`) walked against
//! the page: every key the page uses exists in every language, none is
//! unused, and the languages agree.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use samsyn_capture::screen::view::{
    CameraView, ChatLine, CheckView, LinkView, MicrophoneView, PersonView, PhotoNotice,
    PhotoOutcome, QualityView, TalkbackView,
};
use samsyn_capture::screen::{ScreenCommand, ScreenFeed, ScreenServer, ScreenView, serve};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::Command;

/// How long one browser run may take, start-up included.
const RUN_TIMEOUT: Duration = Duration::from_secs(90);

const PAGE_HTML: &str = include_str!("../web/screen/index.html");
const PAGE_JS: &str = include_str!("../web/screen/screen.js");
const STRINGS_JS: &str = include_str!("../web/screen/strings.js");

// ------------------------------------------------------------ the catalogue

type Catalogue = BTreeMap<String, BTreeMap<String, String>>;

/// The catalogue: the JSON object after `export const STRINGS =`.
fn catalogue() -> Catalogue {
    let (_, object) = STRINGS_JS
        .split_once("\nexport const STRINGS =")
        .expect("strings.js exports STRINGS");
    let object = object.trim().trim_end_matches(';');
    serde_json::from_str(object).expect("the catalogue is plain JSON")
}

/// The single-quoted keys in `source` right after each `marker` (`t('`,
/// `KEY('`) that does not continue a longer name.
fn quoted_after(source: &str, marker: &str) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    let mut rest = source;
    while let Some(at) = rest.find(marker) {
        let before = rest[..at].chars().next_back();
        let after = &rest[at + marker.len()..];
        rest = after;
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '.' || c == '$') {
            continue;
        }
        if let Some(end) = after.find('\'') {
            keys.insert(after[..end].to_owned());
        }
    }
    keys
}

/// Every key the page uses: `t('…')` and `KEY('…')` in the script,
/// `data-i18n*="…"` in the HTML.
fn keys_used() -> BTreeSet<String> {
    let mut keys = quoted_after(PAGE_JS, "t('");
    keys.extend(quoted_after(PAGE_JS, "KEY('"));
    for attribute in ["data-i18n=\"", "data-i18n-aria=\"", "data-i18n-alt=\""] {
        let mut rest = PAGE_HTML;
        while let Some(at) = rest.find(attribute) {
            rest = &rest[at + attribute.len()..];
            let end = rest.find('"').expect("a closed attribute");
            keys.insert(rest[..end].to_owned());
        }
    }
    keys
}

fn placeholders(text: &str) -> BTreeSet<&str> {
    text.split('{')
        .skip(1)
        .filter_map(|part| part.split_once('}').map(|(name, _)| name))
        .collect()
}

#[test]
fn the_catalogue_has_every_key_the_page_uses_and_no_other() {
    let catalogue = catalogue();
    let used = keys_used();
    assert!(used.len() > 40, "the walk found too few keys: {used:?}");
    assert_eq!(
        catalogue.keys().map(String::as_str).collect::<Vec<_>>(),
        ["en", "nb", "nn"],
        "the languages"
    );
    let nb: BTreeSet<&String> = catalogue["nb"].keys().collect();
    for (lang, words) in &catalogue {
        let keys: BTreeSet<&String> = words.keys().collect();
        assert_eq!(keys, nb, "{lang} and nb have different keys");
        for key in &used {
            assert!(
                words.contains_key(key),
                "{lang} lacks \"{key}\", which the page uses"
            );
        }
        for (key, text) in words {
            assert!(
                used.contains(key),
                "\"{key}\" ({lang}) is not used by the page"
            );
            assert!(!text.trim().is_empty(), "\"{key}\" is empty in {lang}");
            assert_eq!(
                placeholders(text),
                placeholders(&catalogue["nb"][key]),
                "\"{key}\": {lang} fills in other values than nb"
            );
        }
    }
}

#[test]
fn the_catalogue_says_what_the_nurse_must_read() {
    let catalogue = catalogue();
    let nb = &catalogue["nb"];
    for (key, words) in [
        ("state.live", "Spesialisten ser deg"),
        ("state.connecting", "Kobler til …"),
        (
            "state.reconnecting",
            "Forbindelsen brøt – kobler til igjen (forsøk {attempt})",
        ),
        ("state.ended", "Konsultasjonen er avsluttet"),
        ("refused.room_ended", "Konsultasjonen er allerede avsluttet"),
        ("selfview.label", "Dette ser spesialisten"),
        ("quality.reduced", "Svak forbindelse: bildet er redusert"),
        ("quality.poor", "Svært svak forbindelse"),
        ("photo.taken", "Bilde tatt av {who}"),
        ("photo.failed", "Bilde ble ikke tatt"),
        ("check.button", "Sjekk forbindelsen"),
        ("end.button", "Avslutt besøket"),
        ("contact.lost", "Mistet kontakt med samsyn på denne PC-en"),
    ] {
        assert_eq!(nb[key], words, "{key}");
    }
    assert!(nb["refused.token_expired"].starts_with("Lenken er utløpt"));
    assert!(nb["refused.other"].starts_with("Lenken virker ikke"));
    for key in [
        "refused.token_expired_detail",
        "refused.room_ended_detail",
        "refused.other_detail",
    ] {
        assert!(
            nb[key].contains("Ring sykehuset"),
            "{key}: tell her whom to call"
        );
    }
}

#[test]
fn the_walk_finds_keys_only_where_the_page_looks_them_up() {
    let script = "t('a.b'); KEY('c'); const x = alert('no'); it('no'); t('d', { n: 1 });";
    let mut found = quoted_after(script, "t('");
    found.extend(quoted_after(script, "KEY('"));
    assert_eq!(
        found,
        BTreeSet::from(["a.b".into(), "c".into(), "d".into()])
    );
}

// ------------------------------------------------------------ in Chromium

/// The browser drivers' directory, with their dependencies installed.
fn browser_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/browser");
    assert!(
        dir.join("node_modules/playwright-core").exists(),
        "{} has no node_modules/playwright-core: run scripts/install-deps (npm ci in tests/browser)",
        dir.display()
    );
    dir
}

/// Where tests leave screenshots.
fn artifacts_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../test-artifacts");
    std::fs::create_dir_all(&dir).expect("artifact dir");
    dir
}

/// A real JPEG self-view frame, 320×180, with a bar at `step` so each one
/// differs.
fn self_view_jpeg(step: u32) -> Vec<u8> {
    let (width, height) = (320u16, 180u16);
    let bar = (step * 16) % u32::from(width);
    let mut pixels = Vec::with_capacity(usize::from(width) * usize::from(height) * 3);
    for y in 0..u32::from(height) {
        for x in 0..u32::from(width) {
            let on_bar = x.abs_diff(bar) < 12;
            let pixel = if on_bar {
                [250, 250, 250]
            } else {
                [150 + (y % 60) as u8, 70 + (x % 80) as u8, 60]
            };
            pixels.extend_from_slice(&pixel);
        }
    }
    let mut out = Vec::new();
    jpeg_encoder::Encoder::new(&mut out, 75)
        .encode(&pixels, width, height, jpeg_encoder::ColorType::Rgb)
        .expect("the self-view frame encodes");
    out
}

fn person(id: &str, name: Option<&str>, role: &str, speaking: bool, you: bool) -> PersonView {
    PersonView {
        id: id.into(),
        name: name.map(Into::into),
        role: role.into(),
        speaking,
        you,
        connected: true,
    }
}

fn chat(seq: u64, from: &str, text: &str) -> ChatLine {
    ChatLine {
        seq,
        from: Some(from.into()),
        role: "specialist".into(),
        text: text.into(),
        sent_at_ms: 1_760_000_000_000 + seq * 1000,
    }
}

fn photo(seq: u64, by: &str, outcome: PhotoOutcome) -> Option<PhotoNotice> {
    Some(PhotoNotice {
        seq,
        by: Some(by.into()),
        by_role: "specialist".into(),
        outcome,
    })
}

/// A consultation under way: two specialists (Dr. Berg speaking), an
/// observer without a name, the nurse; "3,2 cm" the last chat line.
fn live_consultation(feed: &ScreenFeed) {
    feed.update(|view| {
        view.link = LinkView::Live;
        view.room_label = Some("Rom 4B".into());
        view.participants = vec![
            person("cam", Some("Kari Nordmann"), "publisher", false, true),
            person("spec-berg", Some("Dr. Berg"), "specialist", true, false),
            person("spec-lie", Some("Dr. Lie"), "specialist", false, false),
            person("obs-1", None, "observer", false, false),
        ];
        view.chat = vec![
            chat(1, "Dr. Lie", "Kan du vise kanten av såret?"),
            chat(2, "Dr. Berg", "3,2 cm"),
        ];
        view.photo = photo(1, "Dr. Lie", PhotoOutcome::Sent);
        view.quality = QualityView::Reduced;
        view.talkback = Some(TalkbackView { volume_percent: 60 });
        view.microphone = Some(MicrophoneView { muted: false });
    });
}

/// The link states the driver's `states` scenario asks for, in its order
/// (`STATE_STEPS` in nurse-screen.mjs).
const STATE_STEPS: [fn(&mut ScreenView); 7] = [
    |view| view.link = LinkView::Connecting,
    |view| view.link = LinkView::Reconnecting { attempt: 3 },
    |view| view.link = refused("token_expired", "the token expired at 12:00"),
    |view| view.link = refused("room_ended", "room 4B has ended"),
    |view| view.link = refused("invalid_token", "the token's signature does not verify"),
    |view| view.link = LinkView::Ended,
    |view| {
        view.link = LinkView::Live;
        view.quality = QualityView::Poor;
        view.camera = CameraView::Lost;
    },
];

fn refused(problem: &str, message: &str) -> LinkView {
    LinkView::Refused {
        problem: problem.into(),
        message: message.into(),
    }
}

/// Plays the daemon's part: answers the page's commands as the daemon
/// would, and the driver's cues as the consultation would go on.
struct StandInDaemon {
    feed: ScreenFeed,
    commands: Vec<ScreenCommand>,
    state_steps: std::vec::IntoIter<fn(&mut ScreenView)>,
}

impl StandInDaemon {
    fn on_command(&mut self, command: ScreenCommand) {
        self.commands.push(command);
        match command {
            ScreenCommand::Microphone { muted } => self
                .feed
                .update(|view| view.microphone = Some(MicrophoneView { muted })),
            ScreenCommand::Louder | ScreenCommand::Softer => self.feed.update(|view| {
                if let Some(talkback) = &mut view.talkback {
                    talkback.volume_percent = if command == ScreenCommand::Louder {
                        talkback.volume_percent + 10
                    } else {
                        talkback.volume_percent.saturating_sub(10)
                    };
                }
            }),
            ScreenCommand::Check => {
                self.feed.update(|view| {
                    view.check = Some(CheckView::Running {
                        step: "line".into(),
                    });
                });
                let feed = self.feed.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(800)).await;
                    feed.update(|view| {
                        view.check = Some(CheckView::Done {
                            verdict: "good".into(),
                            headline: "The line carries the video.".into(),
                            advice: vec!["Nothing to do.".into()],
                        });
                    });
                });
            }
            ScreenCommand::EndVisit => self.feed.update(|view| view.link = LinkView::Stopped),
        }
    }

    fn on_cue(&mut self, event: &str) {
        match event {
            "ready" => self.feed.update(|view| {
                view.photo = photo(2, "Dr. Berg", PhotoOutcome::Sent);
                view.chat.push(chat(3, "Dr. Berg", "Litt mer til venstre"));
                for person in &mut view.participants {
                    person.speaking = person.id == "spec-lie";
                }
            }),
            "photo-seen" => self.feed.update(|view| {
                if let Some(photo) = &mut view.photo {
                    photo.outcome = PhotoOutcome::Failed;
                }
            }),
            "next" => {
                let step = self
                    .state_steps
                    .next()
                    .expect("the driver asked for one state too many");
                self.feed.update(step);
            }
            other => panic!("unknown cue {other}"),
        }
    }
}

/// One browser run.
struct Run {
    expect_lang: &'static str,
    browser_lang: Option<&'static str>,
    query_lang: Option<&'static str>,
    viewport: (u32, u32),
    scenario: &'static str,
}

/// Runs the driver against a fresh screen; its last JSON line, and the
/// commands the stand-in daemon received.
async fn run_page(run: Run) -> (serde_json::Value, Vec<ScreenCommand>) {
    let (feed, link, mut commands) = ScreenFeed::new();
    live_consultation(&feed);
    let mut server: Option<ScreenServer> = Some(serve(link).await.expect("the screen serves"));
    let mut url = server.as_ref().unwrap().url.clone();
    if let Some(lang) = run.query_lang {
        url.set_query(Some(&format!("lang={lang}")));
    }
    // Self-view frames, ten a second: the screen passes on at most five.
    let frames = {
        let feed = feed.clone();
        tokio::spawn(async move {
            for step in 0.. {
                feed.show_self_view(self_view_jpeg(step));
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    let (width, height) = run.viewport;
    let suffix = match run.scenario {
        "visit" => "",
        "contact-loss" => "-loss",
        _ => "-state",
    };
    let prefix = artifacts_dir().join(format!(
        "nurse-screen-{}-{width}x{height}{suffix}",
        run.expect_lang
    ));
    let dir = browser_dir();
    let mut command = Command::new("node");
    command
        .current_dir(&dir)
        .arg(dir.join("nurse-screen.mjs"))
        .args(["--url", url.as_str()])
        .args(["--expect-lang", run.expect_lang])
        .args(["--viewport", &format!("{width}x{height}")])
        .args(["--scenario", run.scenario])
        .arg("--screenshot-prefix")
        .arg(&prefix)
        .args(["--timeout-ms", "40000"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(lang) = run.browser_lang {
        command.args(["--browser-lang", lang]);
    }
    let mut child = command
        .spawn()
        .expect("node runs (Node 20+ is needed for the browser tests)");
    let mut stderr = child.stderr.take().unwrap();
    let stderr_text = tokio::spawn(async move {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text).await;
        text
    });
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut daemon = StandInDaemon {
        feed: feed.clone(),
        commands: Vec::new(),
        state_steps: STATE_STEPS.to_vec().into_iter(),
    };
    let mut result = None;
    let driven = tokio::time::timeout(RUN_TIMEOUT, async {
        loop {
            tokio::select! {
                line = lines.next_line() => {
                    let Some(line) = line.expect("the driver's stdout") else { break };
                    println!("nurse-screen.mjs: {line}");
                    let Ok(message) = serde_json::from_str::<serde_json::Value>(&line) else {
                        continue;
                    };
                    if let Some(event) = message["event"].as_str() {
                        if run.scenario == "contact-loss" && event == "ready" {
                            server.take().unwrap().shutdown().await;
                        } else {
                            daemon.on_cue(event);
                        }
                    } else {
                        result = Some(message);
                    }
                }
                Some(command) = commands.recv() => daemon.on_command(command),
            }
        }
    })
    .await;
    frames.abort();
    let status = child.wait().await.expect("the driver ends");
    let stderr = stderr_text.await.unwrap();
    assert!(
        driven.is_ok(),
        "the driver took over {RUN_TIMEOUT:?}:\n{stderr}"
    );
    assert!(
        status.success(),
        "nurse-screen.mjs failed ({status}):\n{stderr}"
    );
    // Whatever is still queued counts too.
    while let Ok(command) = commands.try_recv() {
        daemon.commands.push(command);
    }
    let result = result.unwrap_or_else(|| panic!("the driver printed no result:\n{stderr}"));
    assert_eq!(result["ok"], true, "{result}");
    let screenshot = format!("{}.png", prefix.display());
    assert!(
        Path::new(&screenshot).exists(),
        "no screenshot at {screenshot}"
    );
    (result, daemon.commands)
}

/// A whole visit at one size and language; checks what the page reported
/// and the commands its buttons sent.
async fn visit(run: Run) {
    let lang = run.expect_lang;
    let (result, commands) = run_page(run).await;
    assert_eq!(result["lang"], lang, "{result}");
    assert_eq!(result["statesSeen"], serde_json::json!(["live", "stopped"]));
    assert_eq!(result["speakingIdsFirst"], serde_json::json!(["spec-berg"]));
    assert_eq!(result["speakingIdsAfter"], serde_json::json!(["spec-lie"]));
    let chat = result["chatTexts"].as_array().unwrap();
    assert!(chat.iter().any(|text| text == "3,2 cm"), "{result}");
    assert_eq!(result["photoSeqSeen"], 2);
    assert_eq!(
        result["photoFlashes"], 2,
        "one flash for the photo, one for its failure"
    );
    assert!(result["selfViewFrames"].as_u64().unwrap() >= 5, "{result}");
    assert!(result["selfViewRate"].as_f64().unwrap() <= 6.5, "{result}");
    assert_eq!(
        result["errors"],
        serde_json::json!([]),
        "the screen refused a command"
    );
    // Exactly what she pressed, "no" on the question sending nothing.
    assert_eq!(
        commands,
        [
            ScreenCommand::Microphone { muted: true },
            ScreenCommand::Check,
            ScreenCommand::Louder,
            ScreenCommand::EndVisit,
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bokmal_at_1366x768_from_the_browser_language() {
    visit(Run {
        expect_lang: "nb",
        browser_lang: Some("nb-NO"),
        query_lang: None,
        viewport: (1366, 768),
        scenario: "visit",
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bokmal_at_1920x1080_from_the_address_over_an_english_browser() {
    visit(Run {
        expect_lang: "nb",
        browser_lang: Some("en-US"),
        query_lang: Some("nb"),
        viewport: (1920, 1080),
        scenario: "visit",
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn english_at_1366x768_from_the_browser_language() {
    visit(Run {
        expect_lang: "en",
        browser_lang: Some("en-US"),
        query_lang: None,
        viewport: (1366, 768),
        scenario: "visit",
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn english_at_1920x1080_from_the_address_over_a_norwegian_browser() {
    visit(Run {
        expect_lang: "en",
        browser_lang: Some("nb-NO"),
        query_lang: Some("en"),
        viewport: (1920, 1080),
        scenario: "visit",
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_says_when_it_lost_the_daemon() {
    // "no" (Norwegian) has no catalogue of its own: it means Bokmål.
    let (result, commands) = run_page(Run {
        expect_lang: "nb",
        browser_lang: Some("no"),
        query_lang: None,
        viewport: (1366, 768),
        scenario: "contact-loss",
    })
    .await;
    assert_eq!(result["lang"], "nb", "{result}");
    assert_eq!(result["daemonContact"], false);
    assert!(commands.is_empty(), "{commands:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_link_state_is_worded_coloured_and_shaped() {
    let (result, commands) = run_page(Run {
        expect_lang: "nb",
        browser_lang: Some("nb-NO"),
        query_lang: None,
        viewport: (1366, 768),
        scenario: "states",
    })
    .await;
    let looks = result["looks"].as_array().expect("the states seen");
    assert_eq!(looks.len(), STATE_STEPS.len(), "{result}");
    assert!(commands.is_empty(), "{commands:?}");
}
