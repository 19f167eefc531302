//! The HTML report in a real browser (issue 14): a faulty run's `--html`
//! page opened in headless Chromium shows no console message, every plot
//! renders as a non-empty SVG with its axes and labels laid out, the
//! violations are marked on the latency timelines, and a screenshot is
//! saved (`target/tmp/loadgen-report.png`) for a person to look at.
//!
//! Needs Chromium (`apt-get install chromium`; or `CHROMIUM=/path/to/it`).
//! Without it the test prints why and passes, so CI without a browser
//! still runs everything else: `cargo test -p loadgen --test tests browser
//! -- --nocapture` shows whether it ran.
//!
//! Chromium is driven by its command line only (`--dump-dom`,
//! `--screenshot`), no DevTools client: the page has no script of its own,
//! so a copy with a small checking script appended is loaded and the DOM it
//! leaves is read back; console messages come from Chromium's log on
//! stderr.

use crate::support::{run_file, TempDir};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// The browser: `$CHROMIUM`, or `chromium` / `chromium-browser` on PATH.
fn chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("CHROMIUM").map(PathBuf::from) {
        return p.is_file().then_some(p);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|d| ["chromium", "chromium-browser"].map(|n| d.join(n)))
        .find(|p| p.is_file())
}

/// Runs Chromium headless on `page` with `extra` flags, under a time limit;
/// its stdout and stderr.
fn chromium_run(browser: &Path, dir: &TempDir, page: &Path, extra: &[String]) -> (String, String) {
    let profile = tempfile_dir(dir, "profile");
    let out = dir.join("chromium.stdout");
    let err = dir.join("chromium.stderr");
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).expect("stdout file"))
        .stderr(std::fs::File::create(&err).expect("stderr file"))
        .spawn()
        .expect("chromium starts");
    // A waiter thread and a channel: the limit is a recv_timeout, not a poll.
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait());
    });
    if rx.recv_timeout(Duration::from_secs(120)).is_err() {
        // SAFETY: our own child, not yet reaped (it has not exited).
        unsafe {
            libc::kill(pid as libc::pid_t, libc::SIGKILL);
        }
        panic!("chromium did not finish within 120 s");
    }
    let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
    (read(&out), read(&err))
}

fn tempfile_dir(dir: &TempDir, name: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::create_dir_all(&p).expect("profile dir");
    p
}

/// Installed first in `<head>`: records console errors and warnings and
/// uncaught errors (resource load failures included, in the capture phase).
const CATCH: &str = "<script>window.__problems=[];\
['error','warn'].forEach(function(l){var o=console[l];console[l]=function(){\
window.__problems.push(l+': '+Array.prototype.join.call(arguments,' '));o.apply(console,arguments);};});\
window.addEventListener('error',function(e){window.__problems.push('error event: '+(e.message||(e.target&&(e.target.src||e.target.href))||'?'));},true);\
</script>";

/// Appended before `</body>`: measures every figure as laid out and leaves
/// the result in `<body data-check="...">` for `--dump-dom`.
const MEASURE: &str = "<script>(function(){var out={problems:window.__problems,figures:[]};\
document.querySelectorAll('figure').forEach(function(f){var svg=f.querySelector('svg');\
var r=svg?svg.getBoundingClientRect():{width:0,height:0};\
var texts=svg?Array.prototype.slice.call(svg.querySelectorAll('text')):[];\
out.figures.push({class:f.className,kind:f.getAttribute('data-kind')||'',svg:!!svg,\
width:r.width,height:r.height,\
lines:svg?svg.querySelectorAll('polyline,line,path,rect').length:0,\
texts:texts.map(function(t){return t.textContent.trim();}),\
laid_out_texts:texts.filter(function(t){return t.getBBox().width>0;}).length,\
note:svg?'':f.textContent});});\
document.body.setAttribute('data-check',JSON.stringify(out));})();</script>";

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// The faulty run of the `live` tests, with its `--html` report.
const FAULTY: &str = r#"
description = "tests: a short faulty run for the HTML report"
seed = 11
users = 20
connections_per_user = 2
ramp_up = "1s"
duration = "8s"

[friends]
model = "uniform"
degree = 3

[behaviour]
send_message = 1.0
typing_then_send = 0.3
mark_read = 0.3
get_online_friends = 0.3
device_churn = 0.2
churn_reopen_after = { min = "300ms", max = "1500ms" }

[content]
min_bytes = 64
max_bytes = 256

[checker]
barrier_interval = "3s"
"#;

#[test]
fn the_html_report_renders_in_headless_chromium() {
    let Some(browser) = chromium() else {
        println!(
            "SKIPPED the_html_report_renders_in_headless_chromium: no Chromium \
             (apt-get install chromium, or set CHROMIUM=/path/to/chromium)"
        );
        return;
    };
    let dir = TempDir::new("browser");
    dir.write("faulty.toml", FAULTY);
    let run = run_file(
        &dir,
        "faulty.toml",
        &["--fault", "reorder-messages", "--html", "report.html"],
    );
    run.assert_code(1);
    let html = std::fs::read_to_string(dir.join("report.html")).expect("the --html report");

    // 1. Console, layout and plots, from the instrumented copy.
    let checked = html
        .replacen("<head>", &format!("<head>{CATCH}"), 1)
        .replacen("</body>", &format!("{MEASURE}</body>"), 1);
    let page = dir.write("checked.html", &checked);
    let (dom, log) = chromium_run(&browser, &dir, &page, &["--dump-dom".to_owned()]);
    let console: Vec<&str> = log.lines().filter(|l| l.contains(":CONSOLE")).collect();
    assert!(console.is_empty(), "console messages: {console:#?}");
    let attr = dom
        .split_once("data-check=\"")
        .and_then(|(_, rest)| rest.split_once('"'))
        .map(|(v, _)| unescape(v))
        .unwrap_or_else(|| panic!("the checking script left no result; chromium said:\n{log}"));
    let check: Value = serde_json::from_str(&attr).expect("the check is JSON");
    assert_eq!(check["problems"], serde_json::json!([]), "page errors");
    let figures = check["figures"].as_array().expect("figures");
    let plots: Vec<&Value> = figures.iter().filter(|f| f["svg"] == true).collect();
    // 5 kinds with samples (echo, delivery, presence, typing, online_friends,
    // handshake, rest: at least the first four) + their timelines + 3 over time.
    assert!(
        plots.len() >= 4 + 4 + 3,
        "{} plots: {figures:#?}",
        plots.len()
    );
    for f in &plots {
        let texts: Vec<&str> = f["texts"]
            .as_array()
            .expect("texts")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let what = format!("{} {}", f["class"], f["kind"]);
        assert!(
            f["width"].as_f64() >= Some(400.0) && f["height"].as_f64() >= Some(200.0),
            "{what}: laid out at {}x{}",
            f["width"],
            f["height"]
        );
        assert!(f["lines"].as_u64() >= Some(3), "{what}: no lines drawn");
        // Axes: both descriptions and tick labels, all laid out (a font was found).
        let x_axis = texts
            .iter()
            .any(|t| *t == "percentile" || *t == "seconds since start");
        assert!(x_axis, "{what}: no x axis description in {texts:?}");
        assert!(texts.len() >= 6, "{what}: too few labels {texts:?}");
        assert_eq!(
            f["laid_out_texts"].as_u64(),
            Some(texts.len() as u64),
            "{what}: some labels have no width (no font?)"
        );
    }
    for f in figures.iter().filter(|f| f["svg"] == false) {
        assert!(
            f["note"].as_str().is_some_and(|n| n.contains("no samples")),
            "a figure with neither a plot nor a note: {f}"
        );
    }
    // The violations are on the delivery timeline.
    let delivery_time = plots
        .iter()
        .find(|f| f["class"] == "latency-time" && f["kind"] == "message_delivery")
        .expect("a message_delivery timeline");
    assert!(
        delivery_time["texts"]
            .as_array()
            .expect("texts")
            .iter()
            .any(|t| t.as_str().is_some_and(|t| t.starts_with("violations: I6"))),
        "no violation marked: {delivery_time}"
    );

    // 2. A screenshot of the report itself, kept for people to look at.
    let shot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("loadgen-report.png");
    let _ = std::fs::remove_file(&shot);
    let (_, log) = chromium_run(
        &browser,
        &dir,
        &dir.join("report.html"),
        &[
            format!("--screenshot={}", shot.display()),
            "--window-size=1200,4000".to_owned(),
        ],
    );
    let png = std::fs::read(&shot).unwrap_or_else(|e| panic!("no screenshot ({e}):\n{log}"));
    assert!(png.starts_with(b"\x89PNG"), "not a PNG");
    assert!(
        png.len() > 50_000,
        "a nearly blank screenshot: {} bytes",
        png.len()
    );
    println!("screenshot: {} ({} bytes)", shot.display(), png.len());
}
