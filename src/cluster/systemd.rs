//! The systemd timer and service that keep the egress allow-list fresh
//! (`binderctl egress schedule`). Pure: the unit files' text, the quoting
//! of `ExecStart=`, the interval a timer holds.

use std::time::Duration;

/// The units' name: `binderctl-egress.service` and `.timer`.
pub const UNIT: &str = "binderctl-egress";
/// Where the units go, under the root (`/` on a live system).
pub const UNIT_DIR: &str = "etc/systemd/system";
/// `--every auto`'s bounds: never more often than every 5 minutes, never
/// less than hourly.
pub const AUTO_MIN_SECS: u64 = 300;
pub const AUTO_MAX_SECS: u64 = 3600;

/// One `ExecStart=` word: double-quoted, with `\` and `"` escaped, and
/// systemd's specifiers (`%`) and variables (`$`) doubled so they stay
/// literal.
pub fn exec_word(word: &str) -> String {
    let mut out = String::from("\"");
    for c in word.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '%' => out.push_str("%%"),
            '$' => out.push_str("$$"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Why a word cannot go into a unit file (a line break would end the line).
pub fn check_word(word: &str) -> Result<(), String> {
    if word.chars().any(char::is_control) {
        return Err(format!(
            "{word:?} holds a control character, which a unit file cannot carry"
        ));
    }
    Ok(())
}

/// The service: one `binderctl egress apply` run, its output to the journal.
/// `WorkingDirectory=` takes the path as it is (no quotes), so it must be
/// absolute and have no leading or trailing blanks.
pub fn service(exec: &[String], working_directory: &str) -> Result<String, String> {
    for word in exec.iter().chain([&working_directory.to_string()]) {
        check_word(word)?;
    }
    if !working_directory.starts_with('/') || working_directory.trim() != working_directory {
        return Err(format!(
            "the working folder {working_directory:?} cannot be a unit's WorkingDirectory= \
             (absolute, no leading or trailing blanks)"
        ));
    }
    let exec: Vec<String> = exec.iter().map(|w| exec_word(w)).collect();
    Ok(format!(
        "[Unit]\n\
         Description=Refresh the BinderHub egress allow-list (binderctl egress apply)\n\
         Wants=network-online.target\n\
         After=network-online.target\n\
         \n\
         [Service]\n\
         Type=oneshot\n\
         WorkingDirectory={}\n\
         ExecStart={}\n\
         SyslogIdentifier={UNIT}\n",
        working_directory.replace('%', "%%"),
        exec.join(" ")
    ))
}

/// The timer: the first run 2 minutes after boot, then every `every`.
pub fn timer(every: Duration) -> String {
    format!(
        "[Unit]\n\
         Description=Refresh the BinderHub egress allow-list every {}s\n\
         \n\
         [Timer]\n\
         OnBootSec=2min\n\
         OnUnitActiveSec={}s\n\
         RandomizedDelaySec=30s\n\
         \n\
         [Install]\n\
         WantedBy=timers.target\n",
        every.as_secs(),
        every.as_secs()
    )
}

/// The interval a timer written by [`timer`] holds (`OnUnitActiveSec=Ns`).
pub fn interval(timer_text: &str) -> Option<Duration> {
    timer_text.lines().find_map(|line| {
        let value = line.trim().strip_prefix("OnUnitActiveSec=")?;
        crate::cluster::duration::parse_duration(value.trim()).ok()
    })
}

/// `--every auto`: the shortest TTL seen, within 5 minutes and an hour.
pub fn auto_interval(shortest_ttl: u64) -> Duration {
    Duration::from_secs(shortest_ttl.clamp(AUTO_MIN_SECS, AUTO_MAX_SECS))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_words_stay_literal() {
        assert_eq!(
            exec_word("/usr/local/bin/binderctl"),
            "\"/usr/local/bin/binderctl\""
        );
        assert_eq!(exec_word("a b"), "\"a b\"");
        assert_eq!(exec_word("100%$HOME\"\\"), "\"100%%$$HOME\\\"\\\\\"");
        assert!(service(&["/bin/x\ny".into()], "/srv").is_err());
    }

    #[test]
    fn the_timer_holds_its_interval() {
        let text = timer(Duration::from_secs(900));
        assert!(text.contains("OnUnitActiveSec=900s"), "{text}");
        assert_eq!(interval(&text), Some(Duration::from_secs(900)));
        assert_eq!(auto_interval(30), Duration::from_secs(300));
        assert_eq!(auto_interval(1200), Duration::from_secs(1200));
        assert_eq!(auto_interval(86400), Duration::from_secs(3600));
    }
}
