//! The few W3C WebDriver commands the console tests use, over reqwest to
//! chromedriver on 127.0.0.1: a session, navigation, finding and clicking
//! elements, typing, running a script, the page source, a screenshot.
//!
//! Why not the `fantoccini` crate: it pulls in the `webdriver` crate, under
//! MPL-2.0, which the licence policy (scripts/deps-check.py) does not allow,
//! and 13 second versions of crates already locked (icu 1.x, thiserror 1).
//! The protocol is plain JSON over HTTP: https://www.w3.org/TR/webdriver2/.

use base64::Engine as _;
use serde_json::{Value, json};

/// The key of an element reference in WebDriver's JSON.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// How to find an element (CSS selectors only: all the tests need).
pub enum Locator<'a> {
    Css(&'a str),
}

/// A failed command: WebDriver's error code and message, or the transport's.
#[derive(Debug, thiserror::Error)]
#[error("WebDriver {what}: {error}: {message}")]
pub struct CmdError {
    what: String,
    error: String,
    message: String,
}

/// One browser session.
pub struct Client {
    http: reqwest::Client,
    base: String,
}

/// An element of the current page.
pub struct Element<'a> {
    c: &'a Client,
    id: String,
}

impl Client {
    /// A new session on the WebDriver server at `server`, with `caps` as its
    /// `alwaysMatch` capabilities.
    pub async fn connect(server: &str, caps: Value) -> Result<Client, CmdError> {
        payhook::tls::ensure_crypto_provider();
        let http = reqwest::Client::builder()
            .no_proxy()
            .build()
            .map_err(|e| transport("client", &e))?;
        let mut c = Client {
            http,
            base: server.trim_end_matches('/').to_owned(),
        };
        let v = c
            .cmd(
                reqwest::Method::POST,
                "/session",
                Some(json!({ "capabilities": { "alwaysMatch": caps } })),
            )
            .await?;
        let id = v["sessionId"].as_str().unwrap_or_default().to_owned();
        c.base = format!("{}/session/{id}", c.base);
        Ok(c)
    }

    async fn cmd(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, CmdError> {
        let url = format!("{}{path}", self.base);
        let mut req = self.http.request(method, &url);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let what = path.to_owned();
        let resp = req.send().await.map_err(|e| transport(&what, &e))?;
        let ok = resp.status().is_success();
        let v: Value = resp.json().await.map_err(|e| transport(&what, &e))?;
        let value = v.get("value").cloned().unwrap_or(Value::Null);
        if ok {
            Ok(value)
        } else {
            Err(CmdError {
                what,
                error: value["error"]
                    .as_str()
                    .unwrap_or("unknown error")
                    .to_owned(),
                message: value["message"].as_str().unwrap_or_default().to_owned(),
            })
        }
    }

    pub async fn goto(&self, url: &str) -> Result<(), CmdError> {
        self.cmd(reqwest::Method::POST, "/url", Some(json!({ "url": url })))
            .await
            .map(drop)
    }

    pub async fn find(&self, l: Locator<'_>) -> Result<Element<'_>, CmdError> {
        let Locator::Css(css) = l;
        let v = self
            .cmd(
                reqwest::Method::POST,
                "/element",
                Some(json!({ "using": "css selector", "value": css })),
            )
            .await?;
        Ok(Element {
            c: self,
            id: v[ELEMENT].as_str().unwrap_or_default().to_owned(),
        })
    }

    /// Run `script` (a function body: `return …`) in the page.
    pub async fn execute(&self, script: &str, args: Vec<Value>) -> Result<Value, CmdError> {
        self.cmd(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({ "script": script, "args": args })),
        )
        .await
    }

    pub async fn source(&self) -> Result<String, CmdError> {
        let v = self.cmd(reqwest::Method::GET, "/source", None).await?;
        Ok(v.as_str().unwrap_or_default().to_owned())
    }

    /// The viewport as a PNG.
    pub async fn screenshot(&self) -> Result<Vec<u8>, CmdError> {
        let v = self.cmd(reqwest::Method::GET, "/screenshot", None).await?;
        base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap_or_default())
            .map_err(|e| transport("screenshot", &e))
    }

    /// End the session (the browser closes).
    pub async fn close(self) -> Result<(), CmdError> {
        self.cmd(reqwest::Method::DELETE, "", None).await.map(drop)
    }
}

impl Element<'_> {
    pub async fn click(&self) -> Result<(), CmdError> {
        self.c
            .cmd(
                reqwest::Method::POST,
                &format!("/element/{}/click", self.id),
                Some(json!({})),
            )
            .await
            .map(drop)
    }

    pub async fn send_keys(&self, text: &str) -> Result<(), CmdError> {
        self.c
            .cmd(
                reqwest::Method::POST,
                &format!("/element/{}/value", self.id),
                Some(json!({ "text": text })),
            )
            .await
            .map(drop)
    }

    /// Choose the `<option>` of this `<select>` whose value is `value`.
    pub async fn select_by_value(&self, value: &str) -> Result<(), CmdError> {
        let css = format!("option[value=\"{value}\"]");
        let v = self
            .c
            .cmd(
                reqwest::Method::POST,
                &format!("/element/{}/element", self.id),
                Some(json!({ "using": "css selector", "value": css })),
            )
            .await?;
        let option = Element {
            c: self.c,
            id: v[ELEMENT].as_str().unwrap_or_default().to_owned(),
        };
        option.click().await
    }
}

fn transport(what: &str, e: &dyn std::fmt::Display) -> CmdError {
    CmdError {
        what: what.to_owned(),
        error: "transport".to_owned(),
        message: e.to_string(),
    }
}
