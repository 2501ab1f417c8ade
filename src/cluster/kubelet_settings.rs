//! The kubelet settings binderctl writes, as the two editors see them: each
//! setting's command-line flag (MicroK8s' arguments file,
//! `cluster::kubelet_args`), its `KubeletConfiguration` key (kubeadm's
//! `config.yaml`, `cluster::kubelet_config`) and its value. The resources
//! `nodes reserve` reserves build their settings in `kubelet_args`; the
//! image garbage collection `nodes gc` sets is [`ImageGc`]. Pure.

use std::time::Duration;

use crate::error::Problems;

/// A setting's value, typed as the `KubeletConfiguration` reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SettingValue {
    /// An integer (`imageGCHighThresholdPercent: 85`).
    Int(i64),
    /// A string YAML reads as a string without quotes (`imageMaximumGCAge:
    /// 336h`: a Go duration, digits and unit letters).
    Plain(String),
    /// A mapping of strings, written one per line and quoted
    /// (`kubeReserved:` with `cpu: "1"`: unquoted, `1` is a number the
    /// kubelet refuses).
    Map(Vec<(String, String)>),
}

impl SettingValue {
    /// The value as a flag takes it: `85`, `336h`, `cpu=1,memory=512Mi`.
    pub fn flag_value(&self) -> String {
        match self {
            SettingValue::Int(n) => n.to_string(),
            SettingValue::Plain(s) => s.clone(),
            SettingValue::Map(pairs) => pairs
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(","),
        }
    }
}

/// One kubelet setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubeletSetting {
    /// The command-line flag (`--image-gc-high-threshold`); `None` for a
    /// setting the kubelet takes only from its configuration file.
    pub flag: Option<&'static str>,
    /// The `KubeletConfiguration` key (`imageGCHighThresholdPercent`).
    pub key: &'static str,
    pub value: SettingValue,
}

/// The settings one edit sets, in the order missing ones are appended.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KubeletSettings(pub Vec<KubeletSetting>);

impl KubeletSettings {
    pub fn iter(&self) -> std::slice::Iter<'_, KubeletSetting> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The configuration keys, in order.
    pub fn keys(&self) -> Vec<&'static str> {
        self.0.iter().map(|s| s.key).collect()
    }

    /// The settings that have no command-line flag.
    pub fn without_flag(&self) -> Vec<&'static str> {
        self.0
            .iter()
            .filter(|s| s.flag.is_none())
            .map(|s| s.key)
            .collect()
    }
}

/// The kubelet's image garbage collection settings.
pub const GC_HIGH_FLAG: &str = "--image-gc-high-threshold";
pub const GC_LOW_FLAG: &str = "--image-gc-low-threshold";
pub const GC_HIGH_KEY: &str = "imageGCHighThresholdPercent";
pub const GC_LOW_KEY: &str = "imageGCLowThresholdPercent";
/// A `KubeletConfiguration` field only: the kubelet has no flag for it
/// (its flags reference lists `--image-gc-high-threshold` and
/// `--image-gc-low-threshold`, nothing for the maximum age).
pub const GC_MAX_AGE_KEY: &str = "imageMaximumGCAge";
/// The minimum age, which the maximum must exceed (the kubelet refuses
/// to start otherwise), as a flag and a key.
pub const GC_MIN_AGE_FLAG: &str = "--minimum-image-ttl-duration";
pub const GC_MIN_AGE_KEY: &str = "imageMinimumGCAge";
/// The kubelet's defaults: 85 %, 80 %, no maximum age, 2 minutes' minimum.
pub const DEFAULT_GC_HIGH: u32 = 85;
pub const DEFAULT_GC_LOW: u32 = 80;
pub const DEFAULT_GC_MIN_AGE: Duration = Duration::from_secs(120);
/// The feature gate of `imageMaximumGCAge`: alpha (off by default) in
/// Kubernetes 1.29, beta (on by default) from 1.30, stable from 1.35.
pub const MAX_AGE_GATE: &str = "ImageMaximumGCAge";

/// Image garbage collection as `nodes gc` sets it: the kubelet removes
/// unused images once the image filesystem is `high` percent full, down to
/// `low` percent, and (with `max_age`) every image unused for longer.
/// Build it with [`ImageGc::new`], which checks the values as the kubelet
/// does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageGc {
    high: u32,
    low: u32,
    max_age: Option<Duration>,
}

impl ImageGc {
    /// 0 <= low < high <= 100, and a maximum age longer than zero. Every
    /// bad value is reported, each naming its binderctl flag.
    pub fn new(high: u32, low: u32, max_age: Option<Duration>) -> Result<Self, Problems> {
        let mut problems = Vec::new();
        if high > 100 {
            problems.push(format!(
                "--high {high}: a percentage of the image filesystem, at most 100"
            ));
        }
        if low > 100 {
            problems.push(format!(
                "--low {low}: a percentage of the image filesystem, at most 100"
            ));
        }
        if low >= high && high <= 100 && low <= 100 {
            problems.push(format!(
                "--low {low} must be below --high {high}: the kubelet removes images from the \
                 high mark down to the low one (and refuses to start otherwise)"
            ));
        }
        if max_age.is_some_and(|d| d.is_zero()) {
            problems.push(
                "--max-age 0: give a duration such as 14d, or leave --max-age out".to_string(),
            );
        }
        if !problems.is_empty() {
            return Err(Problems(problems));
        }
        Ok(ImageGc { high, low, max_age })
    }

    pub fn high(&self) -> u32 {
        self.high
    }

    pub fn low(&self) -> u32 {
        self.low
    }

    pub fn max_age(&self) -> Option<Duration> {
        self.max_age
    }

    /// The maximum age as Go writes durations (`336h` for 14 days).
    pub fn max_age_go(&self) -> Option<String> {
        self.max_age.map(crate::cluster::duration::format_go)
    }

    /// `high 85%, low 80%, max-age 336h` (or `max-age unchanged`).
    pub fn describe(&self) -> String {
        let age = match self.max_age_go() {
            Some(age) => format!("max-age {age}"),
            None => "max-age unchanged".to_string(),
        };
        format!("high {}%, low {}%, {age}", self.high, self.low)
    }

    /// The settings to write: both thresholds, and the maximum age when
    /// one is given (left as the file has it otherwise).
    pub fn settings(&self) -> KubeletSettings {
        let mut settings = vec![
            KubeletSetting {
                flag: Some(GC_HIGH_FLAG),
                key: GC_HIGH_KEY,
                value: SettingValue::Int(i64::from(self.high)),
            },
            KubeletSetting {
                flag: Some(GC_LOW_FLAG),
                key: GC_LOW_KEY,
                value: SettingValue::Int(i64::from(self.low)),
            },
        ];
        if let Some(age) = self.max_age_go() {
            settings.push(KubeletSetting {
                flag: None,
                key: GC_MAX_AGE_KEY,
                value: SettingValue::Plain(age),
            });
        }
        KubeletSettings(settings)
    }
}

/// A kubelet version's minor number: `v1.29.3+k3s1` → `(1, 29)`.
pub fn kubelet_minor(version: &str) -> Option<(u32, u32)> {
    let rest = version.trim().strip_prefix('v').unwrap_or(version.trim());
    let mut parts = rest.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor_text: String = parts
        .next()?
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    Some((major, minor_text.parse().ok()?))
}

/// Whether a kubelet takes `imageMaximumGCAge`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaxAgeSupport {
    /// 1.30 and later: on unless its feature gate is turned off.
    Yes,
    /// 1.29: behind the alpha feature gate, off unless turned on.
    WithGate,
    /// Before 1.29, or a version that cannot be read.
    No,
}

pub fn max_age_support(version: &str) -> MaxAgeSupport {
    match kubelet_minor(version) {
        Some((1, minor)) if minor >= 30 => MaxAgeSupport::Yes,
        Some((major, _)) if major > 1 => MaxAgeSupport::Yes,
        Some((1, 29)) => MaxAgeSupport::WithGate,
        _ => MaxAgeSupport::No,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_are_checked_as_the_kubelet_checks_them() {
        assert!(ImageGc::new(85, 80, None).is_ok());
        assert!(ImageGc::new(100, 0, None).is_ok());
        let err = ImageGc::new(80, 80, None).unwrap_err();
        assert_eq!(err.0.len(), 1);
        assert!(
            err.0[0].starts_with("--low 80 must be below --high 80"),
            "{err}"
        );
        let err = ImageGc::new(101, 90, Some(Duration::ZERO)).unwrap_err();
        assert_eq!(err.0.len(), 2, "{err}");
        assert!(err.0[0].starts_with("--high 101"), "{err}");
        assert!(err.0[1].starts_with("--max-age 0"), "{err}");
        let err = ImageGc::new(50, 101, None).unwrap_err();
        assert_eq!(err.0.len(), 1, "{err}");
        assert!(err.0[0].starts_with("--low 101"), "{err}");
    }

    #[test]
    fn settings_carry_flags_keys_and_go_durations() {
        let gc = ImageGc::new(90, 70, Some(Duration::from_secs(14 * 86_400))).unwrap();
        let settings = gc.settings();
        assert_eq!(settings.keys(), [GC_HIGH_KEY, GC_LOW_KEY, GC_MAX_AGE_KEY]);
        assert_eq!(settings.without_flag(), [GC_MAX_AGE_KEY]);
        let values: Vec<String> = settings.iter().map(|s| s.value.flag_value()).collect();
        assert_eq!(values, ["90", "70", "336h"]);
        assert_eq!(gc.describe(), "high 90%, low 70%, max-age 336h");
        let gc = ImageGc::new(85, 80, None).unwrap();
        assert_eq!(gc.settings().len(), 2);
        assert!(gc.settings().without_flag().is_empty());
        assert_eq!(gc.describe(), "high 85%, low 80%, max-age unchanged");
    }

    #[test]
    fn kubelet_versions_and_the_maximum_age() {
        assert_eq!(kubelet_minor("v1.35.4"), Some((1, 35)));
        assert_eq!(kubelet_minor("v1.29.3+k3s1"), Some((1, 29)));
        assert_eq!(kubelet_minor("1.30.0-eks-abc"), Some((1, 30)));
        assert_eq!(kubelet_minor(""), None);
        assert_eq!(kubelet_minor("v1"), None);
        assert_eq!(max_age_support("v1.28.15"), MaxAgeSupport::No);
        assert_eq!(max_age_support("v1.29.0"), MaxAgeSupport::WithGate);
        assert_eq!(max_age_support("v1.30.2"), MaxAgeSupport::Yes);
        assert_eq!(max_age_support("v2.0.0"), MaxAgeSupport::Yes);
        assert_eq!(max_age_support("unknown"), MaxAgeSupport::No);
    }
}
