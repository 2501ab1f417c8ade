//! Writing YAML that Helm (YAML 1.1) reads exactly as meant.
