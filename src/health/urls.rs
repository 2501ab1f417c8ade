//! The addresses `check` talks to: BinderHub's and the hub's base URLs
//! (`--url`, `--hub-url`, or a service's external address) and the server
//! a launch started.
//!
//! BinderHub's launcher (binderhub/launcher.py) gives the server's URL as
//! `{hub_url}user/{name}/`, or `{hub_url}user/{name}/{server_name}/` for a
//! named server, the name escaped as JupyterHub escapes it; BinderHub's
//! web page adds `?token=...` when it opens it. The server's own API is
//! below it (`api/shutdown`, which Jupyter Server and the notebook server
//! answer), the hub's below `{hub_url}hub/api/`.

use std::net::Ipv6Addr;

use reqwest::Url;

/// A base URL for `--url`/`--hub-url`: http or https, with a host, no query
/// or fragment, its path ending in `/` (BinderHub may live below a path:
/// `https://lab.example/binder/`).
pub fn base_url(text: &str) -> Result<Url, String> {
    let mut url = Url::parse(text.trim())
        .map_err(|e| format!("not a URL ({e}); write it like http://192.0.2.10/"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "{}: is not http:// or https://",
            url.scheme().to_ascii_lowercase()
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("the URL has no host".into());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("give the address without ?query or #fragment: \
                    binderctl adds the paths it asks for"
            .into());
    }
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

/// The URL of a service reached at its external `address` (an IP or a
/// host name), given its ports: plain HTTP on port 80 when it has it (the
/// charts' `binder` and `proxy-public`), else HTTPS on 443, else HTTP on
/// its first port.
pub fn service_url(address: &str, ports: &[u32]) -> Result<Url, String> {
    let host = match address.parse::<Ipv6Addr>() {
        Ok(ip) => format!("[{ip}]"),
        Err(_) => address.to_string(),
    };
    let (scheme, port) = if ports.is_empty() || ports.contains(&80) {
        ("http", None)
    } else if ports.contains(&443) {
        ("https", None)
    } else {
        ("http", ports.first().copied())
    };
    let port = port.map(|p| format!(":{p}")).unwrap_or_default();
    let url = Url::parse(&format!("{scheme}://{host}{port}/"))
        .map_err(|e| format!("the address {address:?} makes no URL ({e})"))?;
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(format!("the address {address:?} is not a host name"));
    }
    Ok(url)
}

/// A launched server's URL, taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerUrl {
    /// The server's URL, ending in `/`, without the query (`?token=`).
    pub server: Url,
    /// The hub's base URL (what comes before `user/`).
    pub hub: Url,
    /// The user, as the URL writes it (JupyterHub's escaping).
    pub user: String,
    /// The named server, if it is one.
    pub server_name: Option<String>,
}

impl ServerUrl {
    /// Read the `url` of a `ready` event. An error says why it is not a
    /// server's URL; it never repeats the URL's query (a token may be there).
    pub fn parse(text: &str) -> Result<ServerUrl, String> {
        let mut url =
            Url::parse(text).map_err(|e| format!("the server's url is not a URL ({e})"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err("the server's url is not http:// or https://".into());
        }
        url.set_query(None);
        url.set_fragment(None);
        let segments: Vec<String> = url
            .path_segments()
            .map(|s| s.map(str::to_string).collect())
            .unwrap_or_default();
        // `…/user/NAME/` or `…/user/NAME/SERVER/`: the path ends in `/`.
        let Some((last, rest)) = segments.split_last() else {
            return Err(not_a_server_url(&url));
        };
        if !last.is_empty() {
            return Err(not_a_server_url(&url));
        }
        let (prefix, user, server_name) = match rest {
            [prefix @ .., user_word, user] if user_word == "user" && !user.is_empty() => {
                (prefix, user.clone(), None)
            }
            [prefix @ .., user_word, user, server]
                if user_word == "user" && !user.is_empty() && !server.is_empty() =>
            {
                (prefix, user.clone(), Some(server.clone()))
            }
            _ => return Err(not_a_server_url(&url)),
        };
        let mut hub = url.clone();
        let hub_path: String = prefix.iter().map(|s| format!("/{s}")).collect();
        hub.set_path(&format!("{hub_path}/"));
        Ok(ServerUrl {
            server: url,
            hub,
            user,
            server_name,
        })
    }

    /// `api/shutdown` of the server (Jupyter Server's shutdown request;
    /// the server's own token authorizes it).
    pub fn shutdown_url(&self) -> Url {
        let mut url = self.server.clone();
        let path = format!("{}api/shutdown", self.server.path());
        url.set_path(&path);
        url
    }
}

fn not_a_server_url(url: &Url) -> String {
    format!(
        "{} is not a server's URL (HUB/user/NAME/)",
        crate::health::clip(url.path(), 200)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_end_in_a_slash_and_keep_their_path() {
        assert_eq!(
            base_url("http://192.0.2.10").unwrap().as_str(),
            "http://192.0.2.10/"
        );
        assert_eq!(
            base_url(" https://lab.example/binder ").unwrap().as_str(),
            "https://lab.example/binder/"
        );
        let url = base_url("http://127.0.0.1:8585/").unwrap();
        assert_eq!(
            url.join("health").unwrap().as_str(),
            "http://127.0.0.1:8585/health"
        );
        let below = base_url("https://lab.example/binder").unwrap();
        assert_eq!(
            below.join("build/gh/a/b/HEAD").unwrap().as_str(),
            "https://lab.example/binder/build/gh/a/b/HEAD"
        );
    }

    #[test]
    fn base_urls_refuse_other_schemes_queries_and_non_urls() {
        for (bad, says) in [
            ("ftp://binder.example/", "not http"),
            ("binder.example", "not a URL"),
            ("http://binder.example/?x=1", "without ?query"),
            ("http://binder.example/#top", "without ?query"),
            ("", "not a URL"),
        ] {
            let err = base_url(bad).unwrap_err();
            assert!(err.contains(says), "{bad}: {err}");
        }
    }

    #[test]
    fn service_urls_from_addresses_and_ports() {
        assert_eq!(
            service_url("192.0.2.101", &[80]).unwrap().as_str(),
            "http://192.0.2.101/"
        );
        assert_eq!(
            service_url("192.0.2.100", &[443, 80]).unwrap().as_str(),
            "http://192.0.2.100/"
        );
        assert_eq!(
            service_url("hub.example", &[443]).unwrap().as_str(),
            "https://hub.example/"
        );
        assert_eq!(
            service_url("127.0.0.1", &[8585, 9000]).unwrap().as_str(),
            "http://127.0.0.1:8585/"
        );
        assert_eq!(
            service_url("2001:db8::10", &[]).unwrap().as_str(),
            "http://[2001:db8::10]/"
        );
        assert!(service_url("a/b", &[80]).is_err());
        assert!(service_url("a b", &[80]).is_err());
    }

    #[test]
    fn server_urls_name_hub_user_and_server() {
        let url = ServerUrl::parse("http://192.0.2.100/user/binder-examples-requirements-x1y2z3/")
            .unwrap();
        assert_eq!(url.hub.as_str(), "http://192.0.2.100/");
        assert_eq!(url.user, "binder-examples-requirements-x1y2z3");
        assert_eq!(url.server_name, None);
        assert_eq!(
            url.shutdown_url().as_str(),
            "http://192.0.2.100/user/binder-examples-requirements-x1y2z3/api/shutdown"
        );
        // A hub below a path, a named server, and the token BinderHub's page adds.
        let url = ServerUrl::parse(
            "https://lab.example/jupyter/user/alice%40lab.example/course/?token=tok-ABC",
        )
        .unwrap();
        assert_eq!(url.hub.as_str(), "https://lab.example/jupyter/");
        assert_eq!(url.user, "alice%40lab.example");
        assert_eq!(url.server_name.as_deref(), Some("course"));
        assert_eq!(
            url.server.as_str(),
            "https://lab.example/jupyter/user/alice%40lab.example/course/"
        );
        assert_eq!(
            url.shutdown_url().as_str(),
            "https://lab.example/jupyter/user/alice%40lab.example/course/api/shutdown"
        );
    }

    #[test]
    fn other_urls_are_not_server_urls_and_errors_hide_the_query() {
        for bad in [
            "http://hub.example/",
            "http://hub.example/user/",
            "http://hub.example/user//",
            "http://hub.example/user/a",
            "http://hub.example/hub/home/",
            "http://hub.example/user/a/b/c/",
            "file:///user/a/",
            "not a url",
        ] {
            assert!(ServerUrl::parse(bad).is_err(), "{bad}");
        }
        let err = ServerUrl::parse("http://hub.example/lab/?token=tok-SECRET").unwrap_err();
        assert!(!err.contains("tok-SECRET"), "{err}");
    }
}
