//! template.yaml, read as data: the settings that keep the deployed stack
//! within its bounds and its secrets with their owners. Each test names one
//! promise the README makes about the deployment.

use std::{collections::BTreeSet, path::Path};

use serde_yaml::Value;

fn template() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../template.yaml");
    serde_yaml::from_str(&std::fs::read_to_string(path).expect("readable")).expect("YAML")
}

/// The untagged value of `!Ref X` / `!GetAtt X.Arn` (or a plain value).
fn untagged(value: &Value) -> &Value {
    match value {
        Value::Tagged(tagged) => &tagged.value,
        other => other,
    }
}

/// The name `!Ref` or `!GetAtt` points at (`X` of `X.Arn`).
fn target(value: &Value) -> Option<&str> {
    untagged(value)
        .as_str()
        .map(|s| s.split('.').next().unwrap_or(s))
}

fn number(value: &Value) -> Option<u64> {
    match value {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// A parameter's default, for a `!Ref` to it.
fn default_of(template: &Value, reference: &Value) -> u64 {
    let name = target(reference).expect("a !Ref");
    number(&template["Parameters"][name]["Default"]).unwrap_or_else(|| panic!("{name} default"))
}

fn as_list(value: &Value) -> Vec<&Value> {
    match untagged(value) {
        Value::Sequence(items) => items.iter().collect(),
        Value::Null => Vec::new(),
        other => vec![other],
    }
}

fn actions(statement: &Value) -> Vec<&str> {
    as_list(&statement["Action"])
        .into_iter()
        .filter_map(Value::as_str)
        .collect()
}

/// Whether an IAM action pattern (with `*`) grants `action`.
fn grants(pattern: &str, action: &str) -> bool {
    let pattern = pattern.to_ascii_lowercase();
    let action = action.to_ascii_lowercase();
    match pattern.split_once('*') {
        None => pattern == action,
        Some((head, _)) => action.starts_with(head),
    }
}

fn functions(template: &Value) -> impl Iterator<Item = (&str, &Value)> {
    template["Resources"]
        .as_mapping()
        .expect("resources")
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some("AWS::Serverless::Function"))
        .filter_map(|(name, r)| Some((name.as_str()?, r)))
}

fn role_statements(function: &Value) -> Vec<&Value> {
    as_list(&function["Properties"]["Policies"])
        .into_iter()
        .flat_map(|policy| as_list(&policy["Statement"]))
        .collect()
}

#[test]
fn functions_that_check_their_worst_case_are_given_their_own_timeout() {
    let template = template();
    let default = template["Globals"]["Function"]["Timeout"]
        .as_u64()
        .expect("a global timeout");
    let mut checked = Vec::new();
    for (name, resource) in functions(&template) {
        let properties = &resource["Properties"];
        let timeout = properties["Timeout"].as_u64().unwrap_or(default);
        let passed = &properties["Environment"]["Variables"]["FUNCTION_TIMEOUT_SECONDS"];
        if let Some(passed) = passed.as_str() {
            assert_eq!(passed, timeout.to_string(), "{name:?}");
            checked.push(resource["Metadata"]["BuildProperties"]["Binary"].clone());
        }
    }
    let mut binaries: Vec<&str> = checked.iter().filter_map(Value::as_str).collect();
    binaries.sort();
    assert_eq!(
        binaries,
        [
            "accounts-api",
            "refresh-worker",
            "token-refresh",
            "upload-publish"
        ]
    );
}

#[test]
fn the_publish_queue_gives_a_message_up_when_the_publisher_does() {
    let template = template();
    let redrive = &template["Resources"]["PublishQueue"]["Properties"]["RedrivePolicy"];
    assert_eq!(
        number(&redrive["maxReceiveCount"]),
        Some(u64::from(
            shared::service::publish::PublishSettings::default().max_receives
        ))
    );
}

#[test]
fn every_route_is_throttled_and_the_open_routes_harder() {
    let template = template();
    let api = &template["Resources"]["HttpApi"]["Properties"];
    let default = &api["DefaultRouteSettings"];
    let (rate, burst) = (
        default_of(&template, &default["ThrottlingRateLimit"]),
        default_of(&template, &default["ThrottlingBurstLimit"]),
    );
    assert!(rate >= 1 && burst >= rate, "{rate}/{burst}");
    let mut open = BTreeSet::new();
    for (_, function) in functions(&template) {
        let Some(events) = function["Properties"]["Events"].as_mapping() else {
            continue;
        };
        for event in events.values() {
            let p = &event["Properties"];
            if event["Type"].as_str() == Some("HttpApi")
                && p["Auth"]["Authorizer"].as_str() == Some("NONE")
            {
                open.insert(format!(
                    "{} {}",
                    p["Method"].as_str().unwrap().to_uppercase(),
                    p["Path"].as_str().unwrap()
                ));
            }
        }
    }
    assert_eq!(open.len(), 2, "the callback and the webhook: {open:?}");
    let routes = api["RouteSettings"].as_mapping().expect("route settings");
    for route in &open {
        let settings = &routes[route.as_str()];
        let own_rate = default_of(&template, &settings["ThrottlingRateLimit"]);
        let own_burst = default_of(&template, &settings["ThrottlingBurstLimit"]);
        assert!(own_rate < rate && own_burst < burst, "{route}");
    }
}

#[test]
fn the_api_logs_each_request_without_its_query_or_headers() {
    let template = template();
    let settings = &template["Resources"]["HttpApi"]["Properties"]["AccessLogSettings"];
    let group = target(&settings["DestinationArn"]).expect("a log group");
    assert_eq!(
        template["Resources"][group]["Type"].as_str(),
        Some("AWS::Logs::LogGroup")
    );
    assert!(template["Resources"][group]["Properties"]["RetentionInDays"].is_number());
    let format = settings["Format"].as_str().expect("a format");
    let fields: serde_json::Value = serde_json::from_str(format).expect("one JSON object");
    for field in ["requestId", "routeKey", "status", "ip"] {
        assert!(fields[field].is_string(), "{field}");
    }
    // The callback's query holds the authorization code and the state.
    for leak in ["$request", "querystring", "header", "path", "body"] {
        assert!(!format.to_lowercase().contains(leak), "{leak} in {format}");
    }
}

#[test]
fn refreshes_keep_their_concurrency_and_publishing_has_a_ceiling() {
    let template = template();
    let refresh = &template["Resources"]["TokenRefreshFunction"]["Properties"];
    let Value::Tagged(reserved) = &refresh["ReservedConcurrentExecutions"] else {
        panic!("token-refresh reserves concurrency");
    };
    let choice = reserved.value.as_sequence().expect("!If");
    assert!(default_of(&template, &choice[1]) >= 1);
    let event = &template["Resources"]["UploadPublishFunction"]["Properties"]["Events"]["Uploaded"];
    let ceiling = default_of(
        &template,
        &event["Properties"]["ScalingConfig"]["MaximumConcurrency"],
    );
    assert!((2..=1000).contains(&ceiling), "{ceiling}");
}

#[test]
fn fan_out_is_the_default_and_its_workers_keep_their_concurrency() {
    let template = template();
    let parameters = &template["Parameters"];
    assert_eq!(
        parameters["RefreshMode"]["Default"].as_str(),
        Some("fanout")
    );
    // Every function writes accounts to the same number of shards.
    assert_eq!(
        target(&template["Globals"]["Function"]["Environment"]["Variables"]["REFRESH_SHARDS"]),
        Some("RefreshShards")
    );
    assert_eq!(
        number(&parameters["RefreshShards"]["Default"]),
        Some(u64::from(
            shared::domain::schedule::DueShards::DEFAULT.count()
        ))
    );
    let planner = &template["Resources"]["TokenRefreshFunction"]["Properties"];
    let variables = &planner["Environment"]["Variables"];
    assert_eq!(target(&variables["REFRESH_MODE"]), Some("RefreshMode"));
    assert_eq!(
        target(&variables["REFRESH_QUEUE_URL"]),
        Some("RefreshQueue")
    );

    let worker = &template["Resources"]["RefreshWorkerFunction"]["Properties"];
    assert_eq!(
        target(&worker["Environment"]["Variables"]["REFRESH_QUEUE_URL"]),
        Some("RefreshQueue")
    );
    let event = &worker["Events"]["Slices"]["Properties"];
    assert_eq!(target(&event["Queue"]), Some("RefreshQueue"));
    assert_eq!(number(&event["BatchSize"]), Some(1));
    assert_eq!(
        event["FunctionResponseTypes"][0].as_str(),
        Some("ReportBatchItemFailures")
    );
    let ceiling = &event["ScalingConfig"]["MaximumConcurrency"];
    assert_eq!(target(ceiling), Some("RefreshWorkerMaxConcurrency"));
    assert!((2..=1000).contains(&default_of(&template, ceiling)));
    // Reserved as much as the queue may run at once: uploads cannot
    // starve the refresh, and the queue is never throttled below it.
    let Value::Tagged(reserved) = &worker["ReservedConcurrentExecutions"] else {
        panic!("refresh-worker reserves concurrency");
    };
    let choice = reserved.value.as_sequence().expect("!If");
    assert_eq!(target(&choice[1]), Some("RefreshWorkerMaxConcurrency"));

    // A slice comes back only after every lease its worker took lapsed.
    let queue = &template["Resources"]["RefreshQueue"]["Properties"];
    let timeout = number(&worker["Timeout"]).expect("a timeout");
    let lease = shared::service::refresh::RefreshSettings::default()
        .lease
        .as_secs();
    let visibility = number(&queue["VisibilityTimeout"]).expect("a visibility timeout");
    assert!(
        visibility >= timeout + lease,
        "{visibility} < {timeout} + {lease}"
    );
    assert_eq!(
        target(&queue["RedrivePolicy"]["deadLetterTargetArn"]),
        Some("RefreshQueueDeadLetterQueue")
    );
    // The planner and the workers may send slices, and nothing else may.
    let mut senders = BTreeSet::new();
    for (name, function) in functions(&template) {
        for statement in role_statements(function) {
            if actions(statement).contains(&"sqs:SendMessage")
                && target(&statement["Resource"]) == Some("RefreshQueue")
            {
                senders.insert(name.to_owned());
            }
        }
    }
    assert_eq!(
        senders.into_iter().collect::<Vec<_>>(),
        ["RefreshWorkerFunction", "TokenRefreshFunction"]
    );
}

#[test]
fn only_the_roles_that_seal_or_open_may_use_the_token_key() {
    let template = template();
    let policy = &template["Resources"]["TokenKey"]["Properties"]["KeyPolicy"];
    let uses = [
        "kms:Decrypt",
        "kms:Encrypt",
        "kms:ReEncryptFrom",
        "kms:CreateGrant",
    ];
    let mut decrypters = BTreeSet::new();
    for statement in as_list(&policy["Statement"]) {
        let principal = &statement["Principal"]["AWS"];
        let granted: Vec<&str> = uses
            .into_iter()
            .filter(|use_| actions(statement).iter().any(|a| grants(a, use_)))
            .collect();
        if granted.is_empty() {
            continue;
        }
        // Every use is granted to named roles, with our encryption context.
        for role in as_list(principal) {
            let role = target(role).expect("a role");
            assert!(role.ends_with("FunctionRole"), "{role} may {granted:?}");
            if granted.contains(&"kms:Decrypt") {
                decrypters.insert(role.to_owned());
            }
        }
        let condition = &statement["Condition"]["StringEquals"];
        assert!(
            condition["kms:EncryptionContext:purpose"].is_string(),
            "{statement:?}"
        );
    }
    assert_eq!(
        decrypters.into_iter().collect::<Vec<_>>(),
        [
            "AccountsApiFunctionRole",
            "AnalyticsSnapshotFunctionRole",
            "OAuthCallbackFunctionRole",
            "RefreshWorkerFunctionRole",
            "TokenRefreshFunctionRole",
            "UploadPublishFunctionRole"
        ]
    );
    // No role policy can add to that.
    for (name, function) in functions(&template) {
        for statement in role_statements(function) {
            assert!(
                !actions(statement).iter().any(|a| a.starts_with("kms:")),
                "{name} grants itself {statement:?}"
            );
        }
    }
}

#[test]
fn dead_letter_queues_take_only_what_is_meant_for_them() {
    let template = template();
    let resources = template["Resources"].as_mapping().expect("resources");
    let policy = &template["Resources"]["RefreshDeadLetterQueuePolicy"]["Properties"];
    let statements = as_list(&policy["PolicyDocument"]["Statement"]);
    assert_eq!(statements.len(), 1);
    let allowed: BTreeSet<String> =
        as_list(&statements[0]["Condition"]["ArnEquals"]["aws:SourceArn"])
            .into_iter()
            .filter_map(|arn| untagged(arn).as_str().map(str::to_owned))
            .collect();
    // Every schedule that dead-letters here is named, and nothing else.
    let mut schedules = BTreeSet::new();
    for event in functions(&template)
        .filter_map(|(_, f)| f["Properties"]["Events"].as_mapping())
        .flat_map(|events| events.values())
    {
        let p = &event["Properties"];
        if target(&p["DeadLetterConfig"]["Arn"]) == Some("RefreshDeadLetterQueue") {
            let name = untagged(&p["Name"]).as_str().expect("a named rule");
            schedules.insert(format!(
                "arn:${{AWS::Partition}}:events:${{AWS::Region}}:${{AWS::AccountId}}:rule/{name}"
            ));
        }
    }
    assert_eq!(schedules.len(), 2);
    assert_eq!(allowed, schedules);
    // Every queue policy is bound to its sender.
    for (name, resource) in resources {
        if resource["Type"].as_str() != Some("AWS::SQS::QueuePolicy") {
            continue;
        }
        for statement in as_list(&resource["Properties"]["PolicyDocument"]["Statement"]) {
            let condition = serde_yaml::to_string(&statement["Condition"]).unwrap_or_default();
            assert!(
                condition.contains("aws:SourceArn") || condition.contains("aws:SourceAccount"),
                "{name:?}"
            );
        }
    }
}

#[test]
fn the_webhook_cannot_delete_uploads_or_accounts() {
    let template = template();
    let webhook = &template["Resources"]["TikTokWebhookFunction"];
    for statement in role_statements(webhook) {
        if !actions(statement)
            .iter()
            .any(|a| grants(a, "dynamodb:DeleteItem"))
        {
            continue;
        }
        let keys: Vec<&str> =
            as_list(&statement["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"])
                .into_iter()
                .filter_map(Value::as_str)
                .collect();
        assert_eq!(keys, ["EVENT#*"], "{statement:?}");
    }
}

#[test]
fn the_upload_origin_is_required_and_never_a_wildcard() {
    let template = template();
    let parameter = &template["Parameters"]["UploadAllowedOrigin"];
    assert!(parameter["Default"].is_null(), "no default origin");
    let pattern = regex_lite::Regex::new(parameter["AllowedPattern"].as_str().expect("a pattern"))
        .expect("a regex");
    for origin in [
        "https://app.example.com",
        "https://app.example.com:8443",
        "http://localhost:3000",
    ] {
        assert!(pattern.is_match(origin), "{origin}");
    }
    for origin in [
        "*",
        "https://*.example.com",
        "http://app.example.com",
        "https://app.example.com/",
        "https://app.example.com/path",
        "https://app.example.com https://evil.example",
        "",
    ] {
        assert!(!pattern.is_match(origin), "{origin}");
    }
    let rules =
        &template["Resources"]["UploadBucket"]["Properties"]["CorsConfiguration"]["CorsRules"];
    for rule in as_list(rules) {
        let origins = as_list(&rule["AllowedOrigins"]);
        assert_eq!(origins.len(), 1);
        assert_eq!(target(origins[0]), Some("UploadAllowedOrigin"));
    }
}

#[test]
fn cloudwatch_may_publish_to_the_encrypted_alarm_topic() {
    let template = template();
    let topic = &template["Resources"]["AlarmTopic"]["Properties"];
    let key = target(&topic["KmsMasterKeyId"]).expect("a key of ours");
    assert_eq!(
        template["Resources"][key]["Type"].as_str(),
        Some("AWS::KMS::Key"),
        "the AWS managed key's policy cannot let CloudWatch in"
    );
    let policy = &template["Resources"][key]["Properties"]["KeyPolicy"];
    let cloudwatch = as_list(&policy["Statement"])
        .into_iter()
        .find(|s| s["Principal"]["Service"].as_str() == Some("cloudwatch.amazonaws.com"))
        .expect("a statement for CloudWatch");
    for action in ["kms:Decrypt", "kms:GenerateDataKey"] {
        assert!(
            actions(cloudwatch).iter().any(|a| grants(a, action)),
            "{action}"
        );
    }
    assert!(!cloudwatch["Condition"]["StringEquals"]["aws:SourceAccount"].is_null());
}

/// The `!Sub` text of a value, or its plain text.
fn text(value: &Value) -> Option<&str> {
    untagged(value).as_str()
}

/// The ARN of every schedule in the posts' group.
const GROUP_SCHEDULES: &str = "arn:${AWS::Partition}:scheduler:${AWS::Region}:${AWS::AccountId}:schedule/${PostScheduleGroup}/*";

#[test]
fn the_scheduler_role_only_sends_to_the_publish_queue_and_its_dead_letters() {
    let template = template();
    let resources = &template["Resources"];
    assert_eq!(
        resources["PostScheduleGroup"]["Type"].as_str(),
        Some("AWS::Scheduler::ScheduleGroup")
    );
    let role = &resources["PostSchedulerRole"]["Properties"];
    let trust = as_list(&role["AssumeRolePolicyDocument"]["Statement"]);
    assert_eq!(trust.len(), 1);
    assert_eq!(
        as_list(&trust[0]["Principal"]["Service"])
            .into_iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>(),
        ["scheduler.amazonaws.com"]
    );
    assert_eq!(actions(trust[0]), ["sts:AssumeRole"]);
    // Only this account's schedules, of our group.
    let condition = &trust[0]["Condition"]["StringEquals"];
    assert_eq!(
        target(&condition["aws:SourceAccount"]),
        Some("AWS::AccountId")
    );
    assert_eq!(
        target(&condition["aws:SourceArn"]),
        Some("PostScheduleGroup")
    );
    assert!(role["ManagedPolicyArns"].is_null());

    let mut queues = BTreeSet::new();
    for policy in as_list(&role["Policies"]) {
        for statement in as_list(&policy["PolicyDocument"]["Statement"]) {
            assert_eq!(actions(statement), ["sqs:SendMessage"], "{statement:?}");
            for resource in as_list(&statement["Resource"]) {
                queues.insert(target(resource).expect("a queue").to_owned());
            }
        }
    }
    assert_eq!(
        queues.into_iter().collect::<Vec<_>>(),
        ["PostScheduleDeadLetterQueue", "PublishQueue"]
    );
    assert!(resources["PostScheduleDeadLetterQueue"]["Properties"]["RedrivePolicy"].is_null());
}

#[test]
fn only_posts_api_and_upload_publish_manage_schedules_and_only_in_the_group() {
    let template = template();
    let mut managers = BTreeSet::new();
    let mut passers = BTreeSet::new();
    for (name, function) in functions(&template) {
        for statement in role_statements(function) {
            let granted = actions(statement);
            if granted
                .iter()
                .any(|a| a.to_ascii_lowercase().starts_with("scheduler:"))
            {
                managers.insert(name.to_owned());
                for action in &granted {
                    assert!(
                        [
                            "scheduler:CreateSchedule",
                            "scheduler:UpdateSchedule",
                            "scheduler:DeleteSchedule",
                            "scheduler:GetSchedule"
                        ]
                        .contains(action),
                        "{name} may {action}"
                    );
                }
                let resources: Vec<Option<&str>> = as_list(&statement["Resource"])
                    .into_iter()
                    .map(text)
                    .collect();
                assert_eq!(resources, [Some(GROUP_SCHEDULES)], "{name}");
            }
            if granted.iter().any(|a| grants(a, "iam:PassRole")) {
                passers.insert(name.to_owned());
                assert_eq!(granted, ["iam:PassRole"], "{name}");
                assert_eq!(target(&statement["Resource"]), Some("PostSchedulerRole"));
                assert_eq!(
                    statement["Condition"]["StringEquals"]["iam:PassedToService"].as_str(),
                    Some("scheduler.amazonaws.com"),
                    "{name}"
                );
            }
        }
    }
    let expected = ["PostsApiFunction", "UploadPublishFunction"];
    assert_eq!(
        managers.iter().map(String::as_str).collect::<Vec<_>>(),
        expected
    );
    assert_eq!(
        passers.iter().map(String::as_str).collect::<Vec<_>>(),
        expected
    );

    // Both build schedules the same way: the same group, role, target and
    // dead letters.
    for name in expected {
        let variables = &template["Resources"][name]["Properties"]["Environment"]["Variables"];
        for (variable, resource) in [
            ("PUBLISH_QUEUE_URL", "PublishQueue"),
            ("PUBLISH_QUEUE_ARN", "PublishQueue"),
            ("POST_SCHEDULE_GROUP", "PostScheduleGroup"),
            ("POST_SCHEDULER_ROLE_ARN", "PostSchedulerRole"),
            ("POST_SCHEDULE_DLQ_ARN", "PostScheduleDeadLetterQueue"),
        ] {
            assert_eq!(
                target(&variables[variable]),
                Some(resource),
                "{name} {variable}"
            );
        }
    }
    let publisher =
        &template["Resources"]["UploadPublishFunction"]["Properties"]["Environment"]["Variables"];
    assert_eq!(target(&publisher["POSTS_DAILY_CAP"]), Some("PostsDailyCap"));
    let cap = &template["Parameters"]["PostsDailyCap"];
    assert_eq!(number(&cap["Default"]), Some(15));
    assert_eq!(
        (number(&cap["MinValue"]), number(&cap["MaxValue"])),
        (Some(1), Some(1000))
    );
}

#[test]
fn posts_api_serves_the_posts_routes_behind_the_jwt_authorizer() {
    let template = template();
    let api = &template["Resources"]["HttpApi"]["Properties"]["Auth"];
    let authorizer = api["DefaultAuthorizer"]
        .as_str()
        .expect("a default authorizer");
    assert!(!api["Authorizers"][authorizer]["JwtConfiguration"].is_null());
    let function = &template["Resources"]["PostsApiFunction"];
    assert_eq!(
        function["Metadata"]["BuildProperties"]["Binary"].as_str(),
        Some("posts-api")
    );
    let mut routes = BTreeSet::new();
    for event in function["Properties"]["Events"]
        .as_mapping()
        .expect("events")
        .values()
    {
        let p = &event["Properties"];
        assert_eq!(event["Type"].as_str(), Some("HttpApi"));
        assert_eq!(target(&p["ApiId"]), Some("HttpApi"));
        // The default authorizer, or the JWT one by name: never NONE.
        let auth = p["Auth"]["Authorizer"].as_str().unwrap_or(authorizer);
        assert_eq!(auth, authorizer, "{p:?}");
        routes.insert(format!(
            "{} {}",
            p["Method"].as_str().unwrap().to_uppercase(),
            p["Path"].as_str().unwrap()
        ));
    }
    assert_eq!(
        routes.iter().map(String::as_str).collect::<Vec<_>>(),
        [
            "DELETE /posts/{post_id}",
            "GET /posts",
            "GET /posts/{post_id}",
            "PATCH /posts/{post_id}",
            "POST /posts"
        ]
    );

    // The caller's posts come from their own index, which posts-api alone
    // may query.
    let table = &template["Resources"]["Table"]["Properties"];
    let index = as_list(&table["GlobalSecondaryIndexes"])
        .into_iter()
        .find(|i| i["IndexName"].as_str() == Some("posts_by_owner"))
        .expect("the posts_by_owner index");
    let keys: Vec<(&str, &str)> = as_list(&index["KeySchema"])
        .into_iter()
        .map(|k| {
            (
                k["AttributeName"].as_str().unwrap(),
                k["KeyType"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(keys, [("post_owner", "HASH"), ("publish_at", "RANGE")]);
    assert_eq!(index["Projection"]["ProjectionType"].as_str(), Some("ALL"));
    let types: Vec<(&str, &str)> = as_list(&table["AttributeDefinitions"])
        .into_iter()
        .map(|a| {
            (
                a["AttributeName"].as_str().unwrap(),
                a["AttributeType"].as_str().unwrap(),
            )
        })
        .filter(|(name, _)| ["post_owner", "publish_at"].contains(name))
        .collect();
    assert_eq!(types, [("post_owner", "S"), ("publish_at", "N")]);
    let mut queriers = BTreeSet::new();
    for (name, function) in functions(&template) {
        for statement in role_statements(function) {
            if as_list(&statement["Resource"])
                .into_iter()
                .filter_map(text)
                .any(|r| r.ends_with("/index/posts_by_owner"))
            {
                queriers.insert(name.to_owned());
            }
        }
    }
    assert_eq!(
        queriers.into_iter().collect::<Vec<_>>(),
        ["PostsApiFunction"]
    );
}

#[test]
fn media_is_verified_on_arrival_and_expires_only_once_released() {
    let template = template();
    let bucket = &template["Resources"]["UploadBucket"]["Properties"];
    let mut prefixes = BTreeSet::new();
    for rule in as_list(&bucket["NotificationConfiguration"]["QueueConfigurations"]) {
        assert_eq!(target(&rule["Queue"]), Some("PublishQueue"));
        assert_eq!(rule["Event"].as_str(), Some("s3:ObjectCreated:*"));
        for filter in as_list(&rule["Filter"]["S3Key"]["Rules"]) {
            assert_eq!(filter["Name"].as_str(), Some("prefix"));
            prefixes.insert(filter["Value"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(
        prefixes.into_iter().collect::<Vec<_>>(),
        ["media/", "uploads/"]
    );

    // Media a post still needs (retention=hold) never expires; no rule
    // expires media/ without the release tag.
    let rules = as_list(&bucket["LifecycleConfiguration"]["Rules"]);
    for rule in &rules {
        let prefix = rule["Prefix"].as_str().unwrap_or("");
        if rule["ExpirationInDays"].is_null() || !"media/".starts_with(prefix) {
            continue;
        }
        assert_eq!(rule["Id"].as_str(), Some("ExpireReleasedMedia"), "{rule:?}");
    }
    let media = rules
        .iter()
        .find(|r| r["Id"].as_str() == Some("ExpireReleasedMedia"))
        .expect("the media rule");
    assert_eq!(media["Status"].as_str(), Some("Enabled"));
    assert_eq!(media["Prefix"].as_str(), Some("media/"));
    let tags: Vec<(&str, &str)> = as_list(&media["TagFilters"])
        .into_iter()
        .map(|t| (t["Key"].as_str().unwrap(), t["Value"].as_str().unwrap()))
        .collect();
    assert_eq!(tags, [("retention", "release")]);
    assert_eq!(number(&media["ExpirationInDays"]), Some(7));

    // The browser may send the tag the media PUT is signed with.
    for rule in as_list(&bucket["CorsConfiguration"]["CorsRules"]) {
        let headers: Vec<&str> = as_list(&rule["AllowedHeaders"])
            .into_iter()
            .filter_map(Value::as_str)
            .collect();
        assert!(headers.contains(&"x-amz-tagging"), "{headers:?}");
    }
    // upload-presign signs media PUTs with their tag; the functions that
    // hold and release media may tag it, and nothing else may.
    let media_objects = "${UploadBucket.Arn}/media/*";
    let mut taggers = BTreeSet::new();
    let mut putters = BTreeSet::new();
    for (name, function) in functions(&template) {
        for statement in role_statements(function) {
            let on_media = as_list(&statement["Resource"])
                .into_iter()
                .filter_map(text)
                .any(|r| r == media_objects);
            for action in actions(statement) {
                if grants(action, "s3:PutObjectTagging") {
                    assert!(on_media, "{name} tags {statement:?}");
                    taggers.insert(name.to_owned());
                }
                if grants(action, "s3:PutObject") && on_media {
                    putters.insert(name.to_owned());
                }
            }
        }
    }
    assert_eq!(
        taggers.into_iter().collect::<Vec<_>>(),
        [
            "PostsApiFunction",
            "UploadPresignFunction",
            "UploadPublishFunction"
        ]
    );
    assert_eq!(
        putters.into_iter().collect::<Vec<_>>(),
        ["UploadPresignFunction"]
    );
}

#[test]
fn every_function_has_a_log_group_and_an_errors_alarm_and_every_dead_letter_queue_an_alarm() {
    let template = template();
    let resources = template["Resources"].as_mapping().expect("resources");
    let alarms: Vec<&Value> = resources
        .values()
        .filter(|r| r["Type"].as_str() == Some("AWS::CloudWatch::Alarm"))
        .map(|r| &r["Properties"])
        .collect();
    let watched = |metric: &str, dimension: &str, resource: &str| {
        alarms.iter().any(|a| {
            a["MetricName"].as_str() == Some(metric)
                && as_list(&a["Dimensions"]).into_iter().any(|d| {
                    d["Name"].as_str() == Some(dimension) && target(&d["Value"]) == Some(resource)
                })
                && target(&a["AlarmActions"][0]) == Some("AlarmTopic")
        })
    };
    for (name, _) in functions(&template) {
        let group = &template["Resources"][format!("{name}LogGroup").as_str()];
        assert_eq!(
            group["Type"].as_str(),
            Some("AWS::Logs::LogGroup"),
            "{name}"
        );
        assert_eq!(
            text(&group["Properties"]["LogGroupName"]),
            Some(format!("/aws/lambda/${{{name}}}").as_str())
        );
        assert!(watched("Errors", "FunctionName", name), "{name}");
    }
    let dead_letter_queues: Vec<&str> = resources
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some("AWS::SQS::Queue"))
        .filter_map(|(name, _)| name.as_str())
        .filter(|name| name.ends_with("DeadLetterQueue"))
        .collect();
    assert!(dead_letter_queues.contains(&"PostScheduleDeadLetterQueue"));
    for queue in dead_letter_queues {
        assert!(
            watched("ApproximateNumberOfMessagesVisible", "QueueName", queue),
            "{queue}"
        );
    }
}

/// The DynamoDB leading keys a role statement is bound to.
fn leading_keys(statement: &Value) -> Vec<&str> {
    as_list(&statement["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"])
        .into_iter()
        .filter_map(Value::as_str)
        .collect()
}

/// Every (action, leading key) a function's role grants on the table
/// itself, and every index it may query.
fn table_grants(function: &Value) -> (BTreeSet<(String, String)>, BTreeSet<String>) {
    let mut grants = BTreeSet::new();
    let mut indexes = BTreeSet::new();
    for statement in role_statements(function) {
        for resource in as_list(&statement["Resource"]) {
            if let Some(index) = text(resource).and_then(|r| r.strip_prefix("${Table.Arn}/index/"))
            {
                assert_eq!(actions(statement), ["dynamodb:Query"], "{statement:?}");
                indexes.insert(index.to_owned());
            } else if target(resource) == Some("Table") {
                let keys = leading_keys(statement);
                assert!(
                    !keys.is_empty(),
                    "every table grant names its keys: {statement:?}"
                );
                for action in actions(statement) {
                    for key in &keys {
                        grants.insert((action.to_owned(), (*key).to_owned()));
                    }
                }
            }
        }
    }
    (grants, indexes)
}

#[test]
fn the_daily_snapshot_is_fanned_out_on_its_own_queue_within_its_keys() {
    let template = template();
    let resources = &template["Resources"];
    let function = &resources["AnalyticsSnapshotFunction"];
    assert_eq!(
        function["Metadata"]["BuildProperties"]["Binary"].as_str(),
        Some("analytics-snapshot")
    );
    let properties = &function["Properties"];
    let variables = &properties["Environment"]["Variables"];
    assert_eq!(
        target(&variables["ANALYTICS_QUEUE_URL"]),
        Some("AnalyticsQueue")
    );
    assert_eq!(target(&variables["TOKEN_KEY_ID"]), Some("TokenKey"));
    assert_eq!(
        target(&variables["TIKTOK_CLIENT_SECRET_ARN"]),
        Some("TikTokClientSecretArn")
    );
    // The tunables are parameters, with the code's defaults and bounds.
    let defaults = shared::service::analytics::AnalyticsSettings::default();
    for (variable, parameter, default, bounds) in [
        (
            "ANALYTICS_VIDEOS_PER_ACCOUNT",
            "AnalyticsVideosPerAccount",
            defaults.videos_per_account,
            (0, 1000),
        ),
        (
            "ANALYTICS_RETENTION_DAYS",
            "AnalyticsRetentionDays",
            defaults.retention_days,
            (1, 3650),
        ),
        (
            "ANALYTICS_APP_REQUESTS_PER_MINUTE",
            "AnalyticsAppRequestsPerMinute",
            defaults.app_requests_per_minute,
            (1, 1_000_000),
        ),
    ] {
        assert_eq!(target(&variables[variable]), Some(parameter), "{variable}");
        let p = &template["Parameters"][parameter];
        assert_eq!(
            number(&p["Default"]),
            Some(u64::from(default)),
            "{parameter}"
        );
        assert_eq!(
            (number(&p["MinValue"]), number(&p["MaxValue"])),
            (Some(bounds.0), Some(bounds.1)),
            "{parameter}"
        );
    }

    // Planned once a day, its undelivered events kept; each slice one
    // invocation, failures reported per record.
    let events = &properties["Events"];
    let daily = &events["Daily"]["Properties"];
    assert_eq!(events["Daily"]["Type"].as_str(), Some("Schedule"));
    let schedule = daily["Schedule"].as_str().expect("a schedule");
    assert!(schedule.starts_with("cron("), "{schedule}");
    assert_eq!(
        target(&daily["DeadLetterConfig"]["Arn"]),
        Some("AnalyticsScheduleDeadLetterQueue")
    );
    let rule = text(&daily["Name"]).expect("a named rule");
    let policy = &resources["AnalyticsScheduleDeadLetterQueuePolicy"]["Properties"];
    let statements = as_list(&policy["PolicyDocument"]["Statement"]);
    assert_eq!(statements.len(), 1);
    assert_eq!(
        text(&statements[0]["Condition"]["ArnEquals"]["aws:SourceArn"]),
        Some(
            format!(
                "arn:${{AWS::Partition}}:events:${{AWS::Region}}:${{AWS::AccountId}}:rule/{rule}"
            )
            .as_str()
        )
    );
    let slices = &events["Slices"]["Properties"];
    assert_eq!(events["Slices"]["Type"].as_str(), Some("SQS"));
    assert_eq!(target(&slices["Queue"]), Some("AnalyticsQueue"));
    assert_eq!(number(&slices["BatchSize"]), Some(1));
    assert_eq!(
        slices["FunctionResponseTypes"][0].as_str(),
        Some("ReportBatchItemFailures")
    );
    assert!(
        (2..=1000)
            .contains(&number(&slices["ScalingConfig"]["MaximumConcurrency"]).expect("a ceiling"))
    );

    // A slice in flight is not handed to a second worker.
    let queue = &resources["AnalyticsQueue"]["Properties"];
    let timeout = number(&properties["Timeout"]).expect("a timeout");
    let visibility = number(&queue["VisibilityTimeout"]).expect("a visibility timeout");
    assert!(visibility > timeout, "{visibility} <= {timeout}");
    assert_eq!(
        target(&queue["RedrivePolicy"]["deadLetterTargetArn"]),
        Some("AnalyticsQueueDeadLetterQueue")
    );
    // Only the snapshot sends slices.
    let mut senders = BTreeSet::new();
    for (name, function) in functions(&template) {
        for statement in role_statements(function) {
            if actions(statement).contains(&"sqs:SendMessage")
                && target(&statement["Resource"]) == Some("AnalyticsQueue")
            {
                senders.insert(name.to_owned());
            }
        }
    }
    assert_eq!(
        senders.into_iter().collect::<Vec<_>>(),
        ["AnalyticsSnapshotFunction"]
    );

    // Its table grants, exactly: accounts and the refresh's shard record
    // read, snapshots read and written, the Display API's counters counted.
    let (grants, indexes) = table_grants(function);
    let expected: BTreeSet<(String, String)> = [
        ("dynamodb:GetItem", "ACCOUNT#*"),
        ("dynamodb:GetItem", "REFRESH#SHARDS"),
        ("dynamodb:GetItem", "STATS#*"),
        ("dynamodb:GetItem", "VSTATS#*"),
        ("dynamodb:GetItem", "VIDEOS#*"),
        ("dynamodb:PutItem", "STATS#*"),
        ("dynamodb:PutItem", "VSTATS#*"),
        ("dynamodb:PutItem", "VIDEOS#*"),
        ("dynamodb:BatchWriteItem", "STATS#*"),
        ("dynamodb:BatchWriteItem", "VSTATS#*"),
        ("dynamodb:BatchWriteItem", "VIDEOS#*"),
        ("dynamodb:UpdateItem", "RATE#tiktok-user-info#*"),
        ("dynamodb:UpdateItem", "RATE#tiktok-video-list#*"),
        ("dynamodb:UpdateItem", "RATE#analytics-app#*"),
    ]
    .into_iter()
    .map(|(a, k)| (a.to_owned(), k.to_owned()))
    .collect();
    assert_eq!(grants, expected);
    assert_eq!(indexes.into_iter().collect::<Vec<_>>(), ["analytics"]);
    // The analytics index is the snapshot's alone.
    for (name, function) in functions(&template) {
        if name != "AnalyticsSnapshotFunction" {
            assert!(!table_grants(function).1.contains("analytics"), "{name}");
        }
    }
}

#[test]
fn analytics_api_serves_its_routes_behind_the_jwt_authorizer_and_only_reads() {
    let template = template();
    let authorizer = template["Resources"]["HttpApi"]["Properties"]["Auth"]["DefaultAuthorizer"]
        .as_str()
        .expect("a default authorizer");
    let function = &template["Resources"]["AnalyticsApiFunction"];
    assert_eq!(
        function["Metadata"]["BuildProperties"]["Binary"].as_str(),
        Some("analytics-api")
    );
    let mut routes = BTreeSet::new();
    for event in function["Properties"]["Events"]
        .as_mapping()
        .expect("events")
        .values()
    {
        let p = &event["Properties"];
        assert_eq!(event["Type"].as_str(), Some("HttpApi"));
        assert_eq!(target(&p["ApiId"]), Some("HttpApi"));
        let auth = p["Auth"]["Authorizer"].as_str().unwrap_or(authorizer);
        assert_eq!(auth, authorizer, "{p:?}");
        routes.insert(format!(
            "{} {}",
            p["Method"].as_str().unwrap().to_uppercase(),
            p["Path"].as_str().unwrap()
        ));
    }
    assert_eq!(
        routes.iter().map(String::as_str).collect::<Vec<_>>(),
        [
            "GET /accounts/{account_id}/stats",
            "GET /accounts/{account_id}/videos",
            "GET /accounts/{account_id}/videos/{video_id}/stats",
            "GET /analytics/summary"
        ]
    );
    // It reads, and writes only the caller's request counters; it never
    // touches tokens or the key.
    let (grants, indexes) = table_grants(function);
    for (action, key) in &grants {
        match action.as_str() {
            "dynamodb:GetItem" | "dynamodb:BatchGetItem" | "dynamodb:Query" => assert!(
                ["ACCOUNT#*", "STATS#*", "VSTATS#*", "VIDEOS#*"].contains(&key.as_str()),
                "{action} {key}"
            ),
            "dynamodb:UpdateItem" => assert_eq!(key, "RATE#api#*"),
            other => panic!("analytics-api may {other} {key}"),
        }
    }
    assert!(grants.contains(&("dynamodb:UpdateItem".into(), "RATE#api#*".into())));
    assert_eq!(indexes.into_iter().collect::<Vec<_>>(), ["by_owner"]);
    for statement in role_statements(function) {
        for action in actions(statement) {
            assert!(
                action.starts_with("dynamodb:"),
                "analytics-api may {action}"
            );
        }
    }
    assert!(
        function["Properties"]["Environment"]["Variables"]["TOKEN_KEY_ID"].is_null(),
        "no key for a reader"
    );
}
