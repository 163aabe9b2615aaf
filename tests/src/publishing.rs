//! Harness for uploads and publishing: the upload API, the browser's PUT to
//! the presigned URL, the publish queue as Lambda's SQS poller would feed
//! it, and an HTTP endpoint TikTok's webhooks reach.

use std::{collections::HashMap, net::SocketAddr};

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use aws_sdk_sqs::types::MessageSystemAttributeName;
use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::IntoResponse,
    routing::post,
};
use lambda_http::{Body, Response};
use serde_json::Value;
use shared::{domain::ids::AccountId, service::webhooks::Webhooks};
use tokio::sync::oneshot;
use tools::seed::Freshness;

use crate::{TestApp, body_text, events};

pub use tools::{generated_mp4, seed::ALL_SCOPES};

/// A real 3-second 360x640 H.264/AAC MP4 (see tests/fixtures/README.md).
pub const SAMPLE_MP4: &[u8] = include_bytes!("../fixtures/sample.mp4");
pub const SAMPLE_MOV: &[u8] = include_bytes!("../fixtures/sample.mov");
pub const SAMPLE_WEBM: &[u8] = include_bytes!("../fixtures/sample.webm");
pub const SAMPLE_MKV: &[u8] = include_bytes!("../fixtures/sample.mkv");

impl TestApp {
    /// An active account owned by `owner` with a live sandbox grant for
    /// `scopes`, not due for refresh.
    pub async fn seed_account(&self, open_id: &str, owner: &str, scopes: &str) -> AccountId {
        self.seed(open_id, owner, scopes, Freshness::Fresh).await;
        AccountId::parse(open_id).expect("id")
    }

    /// An upload-presign request as `user`, through the real handler.
    pub async fn upload_api(
        &self,
        method: &str,
        path: &str,
        user: Option<&str>,
        body: Option<&Value>,
    ) -> Response<Body> {
        let mut event = events::http_event(method, path, &[], user);
        if let Some(body) = body {
            event["body"] = Value::String(body.to_string());
        }
        upload_presign::handle(&self.uploads, events::request(&event))
            .await
            .expect("handler returns a response")
    }

    /// `POST /uploads`, which must answer 201; returns its body.
    pub async fn create_upload(&self, user: &str, request: &Value) -> Value {
        let response = self
            .upload_api("POST", "/uploads", Some(user), Some(request))
            .await;
        assert_eq!(response.status(), 201, "{}", body_text(&response));
        serde_json::from_str(&body_text(&response)).expect("json")
    }

    /// The browser's PUT of `data` to the presigned URL, with the headers
    /// the API said to send. Returns the status.
    pub async fn put_presigned(&self, created: &Value, data: Vec<u8>) -> u16 {
        let url = created["upload_url"].as_str().expect("upload_url");
        let mut request = self.browser.put(url).body(data);
        for (name, value) in created["headers"].as_object().expect("headers") {
            if name.eq_ignore_ascii_case("content-length") {
                continue; // reqwest sets it from the body
            }
            request = request.header(name, value.as_str().expect("header value"));
        }
        request
            .send()
            .await
            .expect("S3 reachable")
            .status()
            .as_u16()
    }

    /// `GET /uploads/{id}` as `user`: (status, body).
    pub async fn upload_status(&self, user: &str, upload_id: &str) -> (u16, Value) {
        let response = self
            .upload_api("GET", &format!("/uploads/{upload_id}"), Some(user), None)
            .await;
        let status = response.status().as_u16();
        (
            status,
            serde_json::from_str(&body_text(&response)).unwrap_or(Value::Null),
        )
    }

    /// Receives what is visible on the publish queue now (up to 10).
    pub async fn receive_publish_messages(&self) -> Vec<SqsMessage> {
        self.receive_publish_messages_up_to(10).await
    }

    /// How many messages wait on the publish queue with a delay.
    pub async fn delayed_publish_messages(&self) -> usize {
        let attribute = aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesDelayed;
        let output = self
            .clients
            .sqs
            .get_queue_attributes()
            .queue_url(&self.provisioned.queue_url)
            .attribute_names(attribute.clone())
            .send()
            .await
            .expect("GetQueueAttributes");
        output
            .attributes
            .unwrap_or_default()
            .get(&attribute)
            .and_then(|n| n.parse().ok())
            .unwrap_or_default()
    }

    /// Receives what is visible on the publish queue now, at most `n`.
    pub async fn receive_publish_messages_up_to(&self, n: i32) -> Vec<SqsMessage> {
        let output = self
            .clients
            .sqs
            .receive_message()
            .queue_url(&self.provisioned.queue_url)
            .max_number_of_messages(n)
            .wait_time_seconds(0)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .expect("ReceiveMessage");
        output
            .messages
            .unwrap_or_default()
            .into_iter()
            .map(|m| {
                let mut message = SqsMessage::default();
                message.message_id = m.message_id;
                message.receipt_handle = m.receipt_handle;
                message.body = m.body;
                message.event_source = Some("aws:sqs".into());
                // As Lambda's poller passes them.
                message.attributes = m
                    .attributes
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(k, v)| (k.as_str().to_owned(), v))
                    .collect();
                message
            })
            .collect()
    }

    /// Hands `messages` to upload-publish as one SQS event, as Lambda's
    /// poller does, and deletes those it did not report as failed.
    pub async fn deliver(&self, messages: Vec<SqsMessage>) -> SqsBatchResponse {
        let mut event = SqsEvent::default();
        event.records = messages.clone();
        let response = upload_publish::handle(
            &self.publisher,
            lambda_runtime::LambdaEvent::new(event, lambda_runtime::Context::default()),
        )
        .await
        .expect("handler returns a batch response");
        let failed: Vec<&str> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        for m in messages {
            if failed.contains(&m.message_id.as_deref().unwrap_or_default()) {
                continue;
            }
            if let Some(handle) = m.receipt_handle {
                self.clients
                    .sqs
                    .delete_message()
                    .queue_url(&self.provisioned.queue_url)
                    .receipt_handle(handle)
                    .send()
                    .await
                    .expect("DeleteMessage");
            }
        }
        response
    }

    /// Runs the publish queue until it is empty (or `rounds` batches):
    /// each visible message goes to upload-publish one at a time, as the
    /// template's batch size of 1 does. Returns how many were delivered.
    pub async fn drain_publish_queue(&self, rounds: usize) -> usize {
        let mut delivered = 0;
        for _ in 0..rounds {
            let messages = self.receive_publish_messages().await;
            if messages.is_empty() {
                break;
            }
            for m in messages {
                self.deliver(vec![m]).await;
                delivered += 1;
            }
        }
        delivered
    }

    /// Upload `data` as `user` for `account` (direct, `SELF_ONLY` unless
    /// `request` overrides), PUT it, and return the created upload.
    pub async fn upload_video(&self, user: &str, request: Value, data: Vec<u8>) -> Value {
        let created = self.create_upload(user, &request).await;
        assert_eq!(self.put_presigned(&created, data).await, 200);
        created
    }
}

/// An upload request body.
pub fn upload_request(account: &str, file_name: &str, content_type: &str, size: usize) -> Value {
    serde_json::json!({
        "account_id": account,
        "file_name": file_name,
        "content_type": content_type,
        "size_bytes": size,
        "mode": "direct",
        "post": {"title": "Hello from the flows #test", "privacy_level": "SELF_ONLY"}
    })
}

/// An HTTP endpoint for TikTok's webhooks in front of the real
/// tiktok-webhook handler, as API Gateway would be.
pub struct WebhookEndpoint {
    pub url: url::Url,
    _shutdown: oneshot::Sender<()>,
}

impl WebhookEndpoint {
    pub async fn spawn(webhooks: Webhooks) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr: SocketAddr = listener.local_addr().expect("addr");
        let app = Router::new()
            .route("/webhooks/tiktok", post(receive))
            .with_state(webhooks);
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        Self {
            url: url::Url::parse(&format!("http://{addr}/webhooks/tiktok")).expect("url"),
            _shutdown: tx,
        }
    }
}

/// A webhook delivery as an API Gateway v2 event, through the handler.
pub async fn webhook_request(
    webhooks: &Webhooks,
    headers: &HashMap<String, String>,
    body: &[u8],
) -> Response<Body> {
    let mut event = events::http_event("POST", "/webhooks/tiktok", &[], None);
    for (k, v) in headers {
        event["headers"][k.to_ascii_lowercase()] = Value::String(v.clone());
    }
    event["body"] = Value::String(String::from_utf8_lossy(body).into_owned());
    tiktok_webhook::handle(webhooks, events::request(&event))
        .await
        .expect("handler returns a response")
}

async fn receive(
    State(webhooks): State<Webhooks>,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    let headers: HashMap<String, String> = headers
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect();
    let response = webhook_request(&webhooks, &headers, &body).await;
    let status =
        StatusCode::from_u16(response.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    (status, body_text(&response))
}
