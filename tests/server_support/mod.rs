//! Shared helpers of the `server_*` tests: an emulator on a real socket, a gRPC client and a
//! small REST client on the same port.
#![allow(dead_code)]

use std::net::SocketAddr;

use eeops::pb::google::longrunning::operations_client::OperationsClient;
use eeops::server::emulator::{Emulator, EmulatorConfig};
use eeops::server::{self, ServerHandle};
use serde_json::Value as Json;
use tonic::transport::Channel;

pub struct Fixture {
    pub emu: Emulator,
    pub handle: ServerHandle,
    pub http: reqwest::Client,
}

impl Fixture {
    pub async fn start(config: EmulatorConfig) -> Fixture {
        let emu = Emulator::new(config);
        let handle = server::serve(emu.clone(), "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        Fixture {
            emu,
            handle,
            http: reqwest::Client::new(),
        }
    }

    pub async fn manual() -> Fixture {
        Self::start(EmulatorConfig::default().with_manual_clock(true)).await
    }

    pub fn addr(&self) -> SocketAddr {
        self.handle.local_addr()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr())
    }

    pub async fn grpc(&self) -> OperationsClient<Channel> {
        OperationsClient::new(self.channel().await)
    }

    pub async fn channel(&self) -> Channel {
        Channel::from_shared(format!("http://{}", self.addr()))
            .unwrap()
            .connect()
            .await
            .unwrap()
    }

    /// Sends a request and returns the status and the body as JSON (`Json::Null` if empty or
    /// not JSON).
    pub async fn rest(&self, req: reqwest::RequestBuilder) -> (u16, Json) {
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let body = resp.bytes().await.unwrap();
        (status, serde_json::from_slice(&body).unwrap_or(Json::Null))
    }

    pub async fn get(&self, path: &str) -> (u16, Json) {
        self.rest(self.http.get(self.url(path))).await
    }

    pub async fn post(&self, path: &str, body: &str) -> (u16, Json) {
        self.rest(
            self.http
                .post(self.url(path))
                .header("content-type", "application/json")
                .body(body.to_owned()),
        )
        .await
    }
}

/// Asserts Google's JSON error shape and returns (code, status).
pub fn error_of(body: &Json) -> (i64, String) {
    let e = &body["error"];
    assert!(e["message"].is_string(), "no error message in {body}");
    (
        e["code"]
            .as_i64()
            .unwrap_or_else(|| panic!("no code in {body}")),
        e["status"].as_str().unwrap_or_default().to_owned(),
    )
}
