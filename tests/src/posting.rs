//! Harness for posts: media uploads, the posts API through its handler,
//! EventBridge Scheduler's part (moto stores schedules but never fires
//! them: a test fires one by sending its input to its target queue, as
//! the local stack's scheduler does), and the publish queue drained by
//! many workers at once.

use lambda_http::{Body, Response};
use serde_json::{Value, json};
use shared::{
    adapters::scheduler::{ScheduleSettings, ScheduleView, Schedules},
    domain::ids::{PostId, UploadId},
};

use crate::{TestApp, body_text, events};

impl TestApp {
    /// EventBridge Scheduler, as the functions reach it.
    pub async fn schedules(&self) -> Schedules {
        Schedules::new(
            self.clients.scheduler.clone(),
            ScheduleSettings::from_env(&self.env).expect("schedule settings"),
        )
    }

    /// The schedule of `post`, if there is one.
    pub async fn post_schedule(&self, post: &str) -> Option<ScheduleView> {
        self.schedules()
            .await
            .get(&format!("post-{post}"))
            .await
            .expect("GetSchedule")
    }

    /// Fires the schedule `name` as EventBridge Scheduler would at its
    /// time: its input goes to the publish queue, and the schedule is
    /// deleted after completion. Returns whether there was one.
    pub async fn fire_schedule(&self, name: &str) -> bool {
        let schedules = self.schedules().await;
        let Some(schedule) = schedules.get(name).await.expect("GetSchedule") else {
            return false;
        };
        assert_eq!(
            schedule.target_arn, self.provisioned.queue_arn,
            "schedules send to the publish queue"
        );
        self.clients
            .sqs
            .send_message()
            .queue_url(&self.provisioned.queue_url)
            .message_body(schedule.input)
            .send()
            .await
            .expect("SendMessage");
        schedules.delete(name).await.expect("DeleteSchedule");
        true
    }

    /// The names of every schedule in the group.
    pub async fn schedule_names(&self) -> Vec<String> {
        let output = self
            .clients
            .scheduler
            .list_schedules()
            .group_name(&self.provisioned.schedule_group)
            .send()
            .await
            .expect("ListSchedules");
        let mut names: Vec<String> = output
            .schedules
            .into_iter()
            .filter_map(|s| s.name)
            .collect();
        names.sort();
        names
    }

    /// The `retention` tag of media `id`'s object.
    pub async fn media_retention(&self, id: &UploadId) -> Option<String> {
        let output = self
            .clients
            .s3
            .get_object_tagging()
            .bucket(&self.provisioned.bucket)
            .key(id.media_key())
            .send()
            .await
            .expect("GetObjectTagging");
        output
            .tag_set
            .into_iter()
            .find(|t| t.key == "retention")
            .map(|t| t.value)
    }

    /// The first of `posts` (each with one target) whose target is in
    /// `status`: the post's id and the target's upload id.
    pub async fn target_of<'a>(
        &self,
        posts: impl IntoIterator<Item = &'a str>,
        status: &str,
    ) -> (String, UploadId) {
        let store = self.store();
        for id in posts {
            let post = store
                .get_post(&PostId::parse(id).expect("post id"))
                .await
                .expect("GetItem")
                .expect("the post");
            let upload = post.targets[0].upload_id.clone();
            let found = store
                .get_uploads(std::slice::from_ref(&upload))
                .await
                .expect("get");
            if found[0]
                .as_ref()
                .is_some_and(|u| u.status.as_str() == status)
            {
                return (id.to_owned(), upload);
            }
        }
        panic!("no target is {status}");
    }

    /// A posts-api request as `user`, through the real handler.
    pub async fn posts_api(
        &self,
        method: &str,
        path: &str,
        query: &[(&str, &str)],
        user: Option<&str>,
        body: Option<&Value>,
    ) -> Response<Body> {
        let query: Vec<(String, String)> = query
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let mut event = events::http_event(method, path, &query, user);
        if let Some(body) = body {
            event["body"] = Value::String(body.to_string());
        }
        posts_api::handle(&self.posts, events::request(&event))
            .await
            .expect("handler returns a response")
    }

    /// A posts-api call: (status, body).
    pub async fn posts_call(
        &self,
        method: &str,
        path: &str,
        user: &str,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let response = self.posts_api(method, path, &[], Some(user), body).await;
        let status = response.status().as_u16();
        (
            status,
            serde_json::from_str(&body_text(&response)).unwrap_or(Value::Null),
        )
    }

    /// `POST /posts`, which must answer 201; returns the Post.
    pub async fn create_post(&self, user: &str, request: &Value) -> Value {
        let (status, body) = self.posts_call("POST", "/posts", user, Some(request)).await;
        assert_eq!(status, 201, "{body}");
        body
    }

    /// `GET /posts/{id}` as `user`, which must answer 200.
    pub async fn post(&self, user: &str, id: &str) -> Value {
        let (status, body) = self
            .posts_call("GET", &format!("/posts/{id}"), user, None)
            .await;
        assert_eq!(status, 200, "{body}");
        body
    }

    /// Media for posts as `user` (`POST /uploads` without an account), and
    /// its PUT of `data` unless `put` is false. Returns the created upload.
    pub async fn upload_media(&self, user: &str, data: Vec<u8>, put: bool) -> Value {
        let created = self.create_upload(user, &media_request(data.len())).await;
        assert_eq!(created["account_id"], Value::Null);
        assert_eq!(created["status"], "awaiting_upload");
        if put {
            assert_eq!(self.put_presigned(&created, data).await, 200);
        }
        created
    }

    /// Drains the publish queue with `workers` pollers at once, each
    /// handing one message at a time to upload-publish, until the queue
    /// stays empty. Returns how many messages were delivered.
    pub async fn drain_concurrently(&self, workers: usize) -> usize {
        let mut delivered = 0;
        for _ in 0..50 {
            let rounds = futures::future::join_all((0..workers).map(|_| async {
                let mut n = 0;
                loop {
                    let messages = self.receive_one().await;
                    if messages.is_empty() {
                        return n;
                    }
                    n += messages.len();
                    self.deliver(messages).await;
                }
            }))
            .await;
            let round: usize = rounds.into_iter().sum();
            delivered += round;
            if round == 0 {
                break;
            }
        }
        delivered
    }

    /// One visible message, if any (one at a time: a message received
    /// and put back counts toward the queue's redrive limit).
    async fn receive_one(&self) -> Vec<aws_lambda_events::sqs::SqsMessage> {
        self.receive_publish_messages_up_to(1).await
    }

    /// Sends a post's schedule message to the publish queue `times` times,
    /// as duplicate deliveries would.
    pub async fn send_post_message(&self, post: &PostId, times: usize) {
        for _ in 0..times {
            self.clients
                .sqs
                .send_message()
                .queue_url(&self.provisioned.queue_url)
                .message_body(json!({"step": "post", "post_id": post.to_string()}).to_string())
                .send()
                .await
                .expect("SendMessage");
        }
    }
}

/// A media upload request (no account) for an MP4 of `size` bytes.
pub fn media_request(size: usize) -> Value {
    json!({"file_name": "clip.mp4", "content_type": "video/mp4", "size_bytes": size})
}

/// A post request body: `media` to `accounts`, direct, `SELF_ONLY`.
pub fn post_request(media: &str, accounts: &[&str], publish_at: Option<&str>) -> Value {
    let mut body = json!({
        "upload_id": media,
        "mode": "direct",
        "post": {"title": "One video, many accounts #test", "privacy_level": "SELF_ONLY"},
        "targets": accounts.iter().map(|a| json!({"account_id": a})).collect::<Vec<_>>(),
    });
    if let Some(at) = publish_at {
        body["publish_at"] = Value::String(at.to_owned());
    }
    body
}
