//! The pages' texts, without a browser: each page (the specialists' viewer
//! page, the nurse's page) has one catalogue, `gateway/web/i18n/<page>.js`,
//! holding every text it shows in Bokmål (nb), Nynorsk (nn) and English (en)
//! under stable keys. These tests read the catalogues and the pages' HTML and
//! scripts and fail on
//!
//! - a key a page uses that a language lacks (every language is complete,
//!   so the Bokmål fallback of `i18n/lang.js` never shows),
//! - a key of a catalogue that no part of its page uses,
//! - a language whose keys or `{placeholders}` differ from Bokmål's,
//! - text in a page's HTML that does not come from the catalogue (the HTML
//!   holds the Bokmål text of each `data-i18n` element, which must be the
//!   catalogue's), or a `title`/`aria-label`/`placeholder`/`alt` without its
//!   `data-i18n-…` key,
//! - a script that sets a visible text from an English literal,
//! - scripts loaded in an order where a script runs before its texts.
//!
//! The conventions (see `gateway/web/i18n/lang.js`): in HTML,
//! `data-i18n="key"` and `data-i18n-<attribute>="key"`; in scripts, the key
//! as a string literal, first argument of `t(` or `say(`. Comments (`//` at
//! a line's start, or after a space) are not read.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The languages every catalogue has; Bokmål is the default and the
/// reference.
const LANGUAGES: [&str; 3] = ["nb", "nn", "en"];

/// Attributes a person reads or hears, each translated through
/// `data-i18n-<attribute>`.
const TRANSLATED_ATTRIBUTES: [&str; 4] = ["title", "aria-label", "placeholder", "alt"];

/// Text the HTML may carry outside the catalogue: the product's name and
/// punctuation.
const UNTRANSLATED_TEXT: [&str; 2] = ["samsyn", "—"];

struct Page {
    name: &'static str,
    catalogue: &'static str,
    html: &'static str,
    /// The page's own scripts, in the order the HTML loads them.
    scripts: &'static [&'static str],
}

const PAGES: [Page; 2] = [
    Page {
        name: "specialists' page /r/{room}",
        catalogue: "i18n/viewer.js",
        html: "viewer.html",
        scripts: &["talkback.js", "viewer.js", "consultation.js"],
    },
    Page {
        name: "nurse's page /n/{room}",
        catalogue: "i18n/nurse.js",
        html: "nurse.html",
        scripts: &["nurse.js"],
    },
];

type Catalogue = BTreeMap<String, BTreeMap<String, String>>;

fn web() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("web")
}

fn read(file: &str) -> String {
    let path = web().join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

/// A catalogue: `// …` lines, `'use strict';`, then
/// `window.samsynStrings = <one JSON object>;`.
fn catalogue(file: &str) -> Catalogue {
    let text = read(file);
    let code: Vec<&str> = text
        .lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect();
    let code = code.join("\n");
    let (_, json) = code
        .split_once("window.samsynStrings =")
        .unwrap_or_else(|| panic!("{file}: no `window.samsynStrings = {{…}};`"));
    let json = json.trim().strip_suffix(';').unwrap_or_else(|| {
        panic!("{file}: `window.samsynStrings = {{…}}` ends with `;` and nothing after it")
    });
    serde_json::from_str(json)
        .unwrap_or_else(|err| panic!("{file}: the catalogue is not strict JSON: {err}"))
}

/// A line without its comment: `//` at its start, or after a space (so
/// `'http://…'` in a string stays).
fn without_comment(line: &str) -> &str {
    if line.trim_start().starts_with("//") {
        return "";
    }
    match line.find(" //") {
        Some(at) => &line[..at],
        None => line,
    }
}

/// A script's code, comments removed (whole-line `/* … */` blocks too).
fn code_of(file: &str) -> String {
    let text = read(file);
    let mut code = String::new();
    let mut in_block = false;
    for line in text.lines() {
        let trimmed = line.trim_start();
        if in_block {
            in_block = !trimmed.contains("*/");
            continue;
        }
        if trimmed.starts_with("/*") {
            in_block = !trimmed.contains("*/");
            continue;
        }
        code.push_str(without_comment(line));
        code.push('\n');
    }
    code
}

fn is_identifier_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '$'
}

/// The keys a script uses: literal first arguments of `t(` and `say(`.
/// A call with anything else first is an error: its key could not be
/// checked.
fn script_keys(file: &str, errors: &mut Vec<String>) -> BTreeSet<String> {
    let code = code_of(file);
    let mut keys = BTreeSet::new();
    for function in ["t(", "say("] {
        let mut from = 0;
        while let Some(found) = code[from..].find(function) {
            let at = from + found;
            from = at + function.len();
            let before = code[..at].chars().next_back();
            if before.is_some_and(is_identifier_char) {
                continue; // `sort(`, `split(`: another function
            }
            let rest = code[from..].trim_start();
            let Some(quote) = rest.chars().next().filter(|c| *c == '\'' || *c == '"') else {
                let line = code[..at].lines().count();
                errors.push(format!(
                    "{file}:{line}: `{function}` without a literal key; write the key out \
                     (`{function}'some.key')`) so it can be checked"
                ));
                continue;
            };
            let literal = &rest[1..];
            let end = literal
                .find(quote)
                .unwrap_or_else(|| panic!("{file}: an unterminated key after `{function}`"));
            keys.insert(literal[..end].to_owned());
        }
    }
    keys
}

/// Texts set from English literals, the usual ways: what a key should
/// have carried.
fn literal_texts(file: &str) -> Vec<String> {
    const SETTERS: [&str; 9] = [
        "textContent =",
        "textContent:",
        ".title =",
        "title:",
        "placeholder:",
        "alt:",
        "setAttribute('aria-label',",
        "setAttribute('title',",
        "setAttribute('placeholder',",
    ];
    let code = code_of(file);
    let mut found = Vec::new();
    for (n, line) in code.lines().enumerate() {
        for setter in SETTERS {
            let mut rest = line;
            while let Some(at) = rest.find(setter) {
                rest = &rest[at + setter.len()..];
                let value = rest.trim_start();
                let mut chars = value.chars();
                if let (Some('\'' | '"' | '`'), Some(first)) = (chars.next(), chars.next())
                    && first.is_alphabetic()
                {
                    found.push(format!("{file}:{}: {}", n + 1, line.trim()));
                }
            }
        }
    }
    found
}

/// What an HTML file says: the keys it uses, its texts and attributes
/// that do not come from the catalogue, and its scripts in order.
#[derive(Default)]
struct Html {
    /// `data-i18n…` key, with the Bokmål text the HTML carries for it.
    keys: Vec<(String, Option<String>)>,
    untranslated: Vec<String>,
    scripts: Vec<String>,
}

struct Element {
    name: String,
    attributes: BTreeMap<String, String>,
}

const VOID: [&str; 9] = [
    "meta", "link", "input", "img", "br", "hr", "source", "area", "base",
];

fn collapse(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A small reader for the pages' own HTML (double-quoted attributes, no
/// inline scripts): enough to see which text sits in which element.
fn read_html(file: &str) -> Html {
    let text = read(file);
    let mut html = Html::default();
    let mut open: Vec<Element> = Vec::new();
    let mut rest = text.as_str();
    while !rest.is_empty() {
        let Some(lt) = rest.find('<') else {
            check_text(rest, &open, &mut html);
            break;
        };
        check_text(&rest[..lt], &open, &mut html);
        rest = &rest[lt..];
        if let Some(comment) = rest.strip_prefix("<!--") {
            let end = comment.find("-->").expect("a closed comment");
            rest = &comment[end + 3..];
            continue;
        }
        let gt = rest.find('>').expect("a closed tag");
        let tag = &rest[1..gt];
        rest = &rest[gt + 1..];
        if tag.starts_with('!') {
            continue; // <!doctype html>
        }
        if let Some(name) = tag.strip_prefix('/') {
            let name = name.trim().to_ascii_lowercase();
            while let Some(element) = open.pop() {
                if element.name == name {
                    break;
                }
            }
            continue;
        }
        let element = parse_tag(tag);
        for attribute in TRANSLATED_ATTRIBUTES {
            let keyed = element.attributes.get(&format!("data-i18n-{attribute}"));
            if let Some(key) = keyed {
                html.keys.push((
                    key.clone(),
                    element.attributes.get(attribute).map(|v| collapse(v)),
                ));
            }
            match (element.attributes.get(attribute), keyed) {
                (Some(value), None) if !value.trim().is_empty() => html
                    .untranslated
                    .push(format!("<{} {attribute}=\"{value}\">", element.name)),
                _ => {}
            }
        }
        if element.name == "script" {
            if let Some(src) = element.attributes.get("src") {
                html.scripts.push(src.clone());
            }
            let end = rest.find("</script>").expect("a closed script");
            assert!(
                rest[..end].trim().is_empty(),
                "{file}: an inline script (the CSP forbids them)"
            );
            rest = &rest[end + "</script>".len()..];
            continue;
        }
        let void = VOID.contains(&element.name.as_str()) || tag.ends_with('/');
        if let Some(key) = element.attributes.get("data-i18n") {
            html.keys.push((key.clone(), None));
        }
        if !void {
            open.push(element);
        }
    }
    html
}

fn parse_tag(tag: &str) -> Element {
    let tag = tag.trim_end_matches('/');
    let name_end = tag.find(char::is_whitespace).unwrap_or(tag.len());
    let name = tag[..name_end].to_ascii_lowercase();
    let mut attributes = BTreeMap::new();
    let mut rest = tag[name_end..].trim_start();
    while !rest.is_empty() {
        let end = rest
            .find(|c: char| c == '=' || c.is_whitespace())
            .unwrap_or(rest.len());
        let attribute = rest[..end].to_ascii_lowercase();
        rest = &rest[end..];
        let mut value = String::new();
        if let Some(after) = rest.strip_prefix("=\"") {
            let close = after.find('"').expect("a closed attribute value");
            value = after[..close].to_owned();
            rest = &after[close + 1..];
        }
        attributes.insert(attribute, value);
        rest = rest.trim_start();
    }
    Element { name, attributes }
}

/// A text between tags: empty, inside <noscript> (which no script can
/// translate: it says its words in Bokmål and English), the text of a
/// `data-i18n` element (kept to compare with the catalogue), the product's
/// name or punctuation; anything else is untranslated.
fn check_text(text: &str, open: &[Element], html: &mut Html) {
    let text = collapse(text);
    if text.is_empty() || open.iter().any(|e| e.name == "noscript") {
        return;
    }
    let Some(element) = open.last() else {
        html.untranslated.push(text);
        return;
    };
    if let Some(key) = element.attributes.get("data-i18n") {
        if let Some(entry) = html
            .keys
            .iter_mut()
            .rev()
            .find(|(k, text)| k == key && text.is_none())
        {
            entry.1 = Some(text);
        }
        return;
    }
    if !UNTRANSLATED_TEXT.contains(&text.as_str()) {
        html.untranslated.push(format!("<{}>{text}", element.name));
    }
}

fn placeholders(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        rest = &rest[open + 1..];
        if let Some(close) = rest.find('}') {
            let name = &rest[..close];
            if !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric()) {
                found.insert(name.to_owned());
            }
        }
    }
    found
}

/// Every problem of one page, one line each.
fn problems(page: &Page) -> Vec<String> {
    let mut errors = Vec::new();
    let catalogue = catalogue(page.catalogue);
    let languages: BTreeSet<&str> = catalogue.keys().map(String::as_str).collect();
    assert_eq!(
        languages,
        LANGUAGES.into_iter().collect(),
        "{}: the languages of {}",
        page.name,
        page.catalogue
    );
    let nb = &catalogue["nb"];

    // The same keys and placeholders in every language, and no empty text.
    for language in LANGUAGES {
        let strings = &catalogue[language];
        for key in nb.keys().filter(|k| !strings.contains_key(*k)) {
            errors.push(format!("{language} lacks {key}"));
        }
        for key in strings.keys().filter(|k| !nb.contains_key(*k)) {
            errors.push(format!("{language} has {key}, which nb has not"));
        }
        for (key, text) in strings {
            if text.trim().is_empty() || text.trim() != text {
                errors.push(format!("{language} {key}: {text:?} is empty or padded"));
            }
            if let Some(reference) = nb.get(key)
                && placeholders(text) != placeholders(reference)
            {
                errors.push(format!(
                    "{language} {key}: placeholders {:?}, nb has {:?}",
                    placeholders(text),
                    placeholders(reference)
                ));
            }
        }
    }

    // The keys the page uses.
    let html = read_html(page.html);
    let mut used: BTreeSet<String> = html.keys.iter().map(|(k, _)| k.clone()).collect();
    for script in page.scripts {
        used.extend(script_keys(script, &mut errors));
        for literal in literal_texts(script) {
            errors.push(format!("a text not from the catalogue: {literal}"));
        }
    }
    for key in &used {
        for language in LANGUAGES {
            if !catalogue[language].contains_key(key) {
                errors.push(format!(
                    "{key} is used but missing in {language} of {}",
                    page.catalogue
                ));
            }
        }
    }
    for key in nb.keys().filter(|k| !used.contains(*k)) {
        errors.push(format!(
            "{key} is in {} but the page does not use it",
            page.catalogue
        ));
    }

    // The HTML's own text is the catalogue's Bokmål.
    for (key, text) in &html.keys {
        match (text, nb.get(key)) {
            (Some(text), Some(nb_text)) if collapse(nb_text) != *text => errors.push(format!(
                "{}: {key} says {text:?} where nb says {nb_text:?}",
                page.html
            )),
            (None, Some(nb_text)) => errors.push(format!(
                "{}: the element of {key} is empty; give it the Bokmål text {nb_text:?}",
                page.html
            )),
            _ => {}
        }
    }
    for text in &html.untranslated {
        errors.push(format!("{}: text without a key: {text}", page.html));
    }

    // The catalogue, then the language, then the scripts that show text.
    let position = |name: &str| {
        html.scripts
            .iter()
            .position(|src| src.rsplit("assets/").next() == Some(name))
            .unwrap_or_else(|| panic!("{} does not load {name}", page.html))
    };
    let catalogue_at = position(page.catalogue);
    let lang_at = position("i18n/lang.js");
    if catalogue_at > lang_at {
        errors.push(format!(
            "{} loads {} after i18n/lang.js",
            page.html, page.catalogue
        ));
    }
    for script in page.scripts {
        if position(script) < lang_at {
            errors.push(format!("{} loads {script} before i18n/lang.js", page.html));
        }
    }
    errors
}

#[test]
fn every_text_of_the_specialists_page_is_in_its_catalogue_in_every_language() {
    let errors = problems(&PAGES[0]);
    assert!(
        errors.is_empty(),
        "{}:\n{}",
        PAGES[0].name,
        errors.join("\n")
    );
}

#[test]
fn every_text_of_the_nurses_page_is_in_its_catalogue_in_every_language() {
    let errors = problems(&PAGES[1]);
    assert!(
        errors.is_empty(),
        "{}:\n{}",
        PAGES[1].name,
        errors.join("\n")
    );
}

#[test]
fn the_controls_say_what_they_do() {
    // The specialist's two sound buttons used to read "Unmute" and "Mute"
    // side by side: one is the nurse's sound, the other this page's
    // microphone.
    let viewer = catalogue("i18n/viewer.js");
    assert_eq!(viewer["nb"]["sound.on"], "Slå på lyd fra sykepleier");
    assert_eq!(viewer["en"]["sound.on"], "Hear the nurse");
    assert_eq!(viewer["nb"]["mic.mute"], "Demp mikrofonen min");
    assert_eq!(viewer["en"]["mic.mute"], "Mute my microphone");
    for language in LANGUAGES {
        let strings = &viewer[language];
        let sound = [&strings["sound.on"], &strings["sound.off"]];
        let mic = [&strings["mic.mute"], &strings["mic.unmute"]];
        for a in sound {
            for b in mic {
                assert_ne!(a, b, "{language}: a sound button and a microphone button");
            }
        }
    }
    let nurse = catalogue("i18n/nurse.js");
    assert_eq!(nurse["nb"]["ready.open"], "Åpne i samsyn");
    assert!(
        nurse["nb"]["ready.what"]
            .starts_with("Denne lenken åpner kameraprogrammet samsyn på den bærbare PC-en")
    );
    assert!(nurse["nb"]["help.noApp"].starts_with("Har ikke PC-en samsyn? Ring IT"));
    assert!(nurse["nb"]["broken.heading"].starts_with("Lenken er ufullstendig"));
}

#[test]
fn the_checks_catch_what_they_are_for() {
    // The readers find keys, and complain about what they should.
    let mut errors = Vec::new();
    let keys = script_keys("viewer.js", &mut errors);
    assert!(keys.contains("msg.waiting") && keys.contains("state.waiting"));
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(without_comment("  // t('x.y')"), "");
    assert_eq!(
        without_comment("a = 'http://x'; // t('x.y')"),
        "a = 'http://x';"
    );
    assert_eq!(
        placeholders("{n} of {total}, not {}"),
        ["n", "total"].map(str::to_owned).into()
    );
    let element = parse_tag(r#"button id="unmute" disabled data-i18n="sound.on""#);
    assert_eq!(element.name, "button");
    assert_eq!(element.attributes["data-i18n"], "sound.on");
    assert_eq!(element.attributes["disabled"], "");
    let mut html = Html::default();
    check_text(
        "  Unmute ",
        &[Element {
            name: "button".to_owned(),
            attributes: BTreeMap::new(),
        }],
        &mut html,
    );
    assert_eq!(html.untranslated, ["<button>Unmute"]);
}
