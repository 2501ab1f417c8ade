//! The `WWW-Authenticate` challenge of a registry's 401 answer, as the
//! Docker Registry HTTP API v2 uses it (RFC 7235 syntax). Pure.
//!
//! `Basic realm="…"`: send the user name and password with every request.
//! `Bearer realm="https://auth.example/token",service="registry.example",
//! scope="repository:lab/x:pull"`: fetch a token from the realm (with the
//! user name and password, or anonymously) for that service and scope, and
//! send it as `Authorization: Bearer TOKEN`.

/// What the registry asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
        /// The scopes asked for (`scope` may hold several, space-separated).
        scopes: Vec<String>,
    },
}

/// The challenge in the `WWW-Authenticate` header values, Bearer preferred
/// over Basic; `None` when there is neither (or a Bearer challenge has no
/// realm).
pub fn parse<'a>(values: impl IntoIterator<Item = &'a str>) -> Option<Challenge> {
    let mut basic = false;
    for value in values {
        for (scheme, params) in challenges(value) {
            if scheme.eq_ignore_ascii_case("bearer") {
                let get = |name: &str| {
                    params
                        .iter()
                        .find(|(k, _)| k.eq_ignore_ascii_case(name))
                        .map(|(_, v)| v.clone())
                };
                let realm = get("realm").filter(|r| !r.is_empty())?;
                let scopes = params
                    .iter()
                    .filter(|(k, _)| k.eq_ignore_ascii_case("scope"))
                    .flat_map(|(_, v)| v.split_whitespace().map(str::to_string))
                    .collect();
                return Some(Challenge::Bearer {
                    realm,
                    service: get("service"),
                    scopes,
                });
            }
            if scheme.eq_ignore_ascii_case("basic") {
                basic = true;
            }
        }
    }
    basic.then_some(Challenge::Basic)
}

/// The challenges in one header value: `(scheme, [(name, value)])`. A
/// new challenge starts at a token that is not followed by `=`.
fn challenges(value: &str) -> Vec<(String, Vec<(String, String)>)> {
    let mut out: Vec<(String, Vec<(String, String)>)> = Vec::new();
    let chars: Vec<char> = value.chars().collect();
    let mut i = 0;
    let skip = |i: &mut usize, what: &dyn Fn(char) -> bool| {
        while *i < chars.len() && what(chars[*i]) {
            *i += 1;
        }
    };
    while i < chars.len() {
        skip(&mut i, &|c| c.is_whitespace() || c == ',');
        let start = i;
        skip(&mut i, &|c| !c.is_whitespace() && c != ',' && c != '=');
        let token: String = chars[start..i].iter().collect();
        if token.is_empty() {
            // A stray `=`: skip it.
            i += 1;
            continue;
        }
        let mut j = i;
        skip(&mut j, &|c| c == ' ' || c == '\t');
        if j < chars.len() && chars[j] == '=' {
            // name=value for the current challenge.
            i = j + 1;
            skip(&mut i, &|c| c == ' ' || c == '\t');
            let mut param = String::new();
            if i < chars.len() && chars[i] == '"' {
                i += 1;
                while i < chars.len() && chars[i] != '"' {
                    if chars[i] == '\\' && i + 1 < chars.len() {
                        i += 1;
                    }
                    param.push(chars[i]);
                    i += 1;
                }
                i += 1;
            } else {
                let start = i;
                skip(&mut i, &|c| c != ',' && !c.is_whitespace());
                param = chars[start..i].iter().collect();
            }
            if let Some((_, params)) = out.last_mut() {
                params.push((token, param));
            }
        } else {
            out.push((token, Vec::new()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_distributions_bearer_challenge() {
        let header = r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:lab/binder-x:pull""#;
        assert_eq!(
            parse([header]),
            Some(Challenge::Bearer {
                realm: "https://auth.example/token".into(),
                service: Some("registry.example".into()),
                scopes: vec!["repository:lab/binder-x:pull".into()],
            })
        );
    }

    #[test]
    fn reads_several_scopes_quotes_escapes_and_odd_spacing() {
        let header = r#"bearer  realm = "https://auth.example/t\"x" , scope="repository:a:pull repository:b:delete",error="invalid_token""#;
        assert_eq!(
            parse([header]),
            Some(Challenge::Bearer {
                realm: "https://auth.example/t\"x".into(),
                service: None,
                scopes: vec!["repository:a:pull".into(), "repository:b:delete".into()],
            })
        );
        let unquoted = "Bearer realm=https://auth.example/token,service=reg";
        assert_eq!(
            parse([unquoted]),
            Some(Challenge::Bearer {
                realm: "https://auth.example/token".into(),
                service: Some("reg".into()),
                scopes: vec![],
            })
        );
    }

    #[test]
    fn basic_and_bearer_in_one_header_prefer_bearer() {
        assert_eq!(
            parse([r#"Basic realm="Registry Realm""#]),
            Some(Challenge::Basic)
        );
        let both = r#"Basic realm="r", Bearer realm="https://auth.example/token",service="s""#;
        assert!(matches!(parse([both]), Some(Challenge::Bearer { .. })));
        assert!(matches!(
            parse([r#"Basic realm="r""#, r#"Bearer realm="https://a.example/""#]),
            Some(Challenge::Bearer { .. })
        ));
    }

    #[test]
    fn nothing_usable_is_none() {
        for header in [
            "",
            "Negotiate",
            "Bearer service=\"x\"",
            "Bearer realm=\"\"",
            "=,=",
            "\"",
        ] {
            assert_eq!(parse([header]), None, "{header:?}");
        }
        assert_eq!(parse(std::iter::empty()), None);
    }
}
