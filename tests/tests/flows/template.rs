//! template.yaml, read as data: the settings that keep the deployed stack
//! within its bounds and its secrets with their owners. Each test names one
//! promise the README makes about the deployment.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::Path,
};

use serde_yaml::{Value, value::TaggedValue};

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

/// The pseudo parameters' values where intrinsics are evaluated here.
const STACK_ID: &str = "arn:aws:cloudformation:us-east-1:123456789012:stack/tiktok-manager/1c2fa620-982a-11e3-aff7-50e2416294e0";

/// The console's origin, as evaluated here: its distribution's domain name
/// stands for itself.
const CONSOLE: &str = "https://ConsoleDistribution.DomainName";

/// The template's intrinsics evaluated as CloudFormation would for the
/// parameter values given (the others at their defaults), so a test reads
/// what a deployment gets. A resource's `!Ref` is `ref:Name`, an attribute
/// `Name.Attribute`.
struct Deployment<'t> {
    template: &'t Value,
    parameters: BTreeMap<String, String>,
}

impl<'t> Deployment<'t> {
    fn new(template: &'t Value, given: &[(&str, &str)]) -> Self {
        let mut parameters = BTreeMap::new();
        for (name, parameter) in template["Parameters"].as_mapping().expect("parameters") {
            let default = match &parameter["Default"] {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                Value::Bool(b) => Some(b.to_string()),
                _ => None,
            };
            if let (Some(name), Some(default)) = (name.as_str(), default) {
                parameters.insert(name.to_owned(), default);
            }
        }
        for (name, value) in given {
            assert!(
                template["Parameters"][*name].is_mapping(),
                "no parameter {name}"
            );
            parameters.insert((*name).to_owned(), (*value).to_owned());
        }
        Self {
            template,
            parameters,
        }
    }

    fn reference(&self, name: &str) -> Value {
        let pseudo = match name {
            "AWS::NoValue" => return Value::Null,
            "AWS::Region" => "us-east-1",
            "AWS::AccountId" => "123456789012",
            "AWS::Partition" => "aws",
            "AWS::URLSuffix" => "amazonaws.com",
            "AWS::StackName" => "tiktok-manager",
            "AWS::StackId" => STACK_ID,
            _ => "",
        };
        if !pseudo.is_empty() {
            return Value::from(pseudo);
        }
        let parameter = &self.template["Parameters"][name];
        if parameter.is_mapping() {
            let value = self
                .parameters
                .get(name)
                .unwrap_or_else(|| panic!("{name} has no value"));
            return if parameter["Type"].as_str() == Some("CommaDelimitedList") {
                Value::Sequence(value.split(',').map(Value::from).collect())
            } else {
                Value::from(value.as_str())
            };
        }
        assert!(
            self.template["Resources"][name].is_mapping(),
            "no resource {name}"
        );
        Value::from(format!("ref:{name}"))
    }

    fn condition(&self, name: &str) -> bool {
        let condition = &self.template["Conditions"][name];
        assert!(!condition.is_null(), "no condition {name}");
        self.holds(condition)
    }

    fn holds(&self, condition: &Value) -> bool {
        let Value::Tagged(tagged) = condition else {
            panic!("a condition function: {condition:?}")
        };
        let args = || tagged.value.as_sequence().expect("arguments");
        match function_name(tagged).as_str() {
            "Equals" => self.eval(&args()[0]) == self.eval(&args()[1]),
            "Not" => !self.holds(&args()[0]),
            "And" => args().iter().all(|c| self.holds(c)),
            "Or" => args().iter().any(|c| self.holds(c)),
            "Condition" => self.condition(tagged.value.as_str().expect("a name")),
            other => panic!("condition function {other}"),
        }
    }

    /// `value` with every intrinsic in it evaluated (`AWS::NoValue` drops
    /// its list item or key).
    fn eval(&self, value: &Value) -> Value {
        match value {
            Value::Sequence(items) => Value::Sequence(
                items
                    .iter()
                    .map(|v| self.eval(v))
                    .filter(|v| !v.is_null())
                    .collect(),
            ),
            Value::Mapping(map) => Value::Mapping(
                map.iter()
                    .map(|(k, v)| (k.clone(), self.eval(v)))
                    .filter(|(_, v)| !v.is_null())
                    .collect(),
            ),
            Value::Tagged(tagged) => self.function(tagged),
            other => other.clone(),
        }
    }

    fn function(&self, tagged: &TaggedValue) -> Value {
        let args = || tagged.value.as_sequence().expect("arguments");
        let string = |v: &Value| self.eval(v).as_str().expect("a string").to_owned();
        match function_name(tagged).as_str() {
            "Ref" => self.reference(tagged.value.as_str().expect("a name")),
            "GetAtt" => Value::from(tagged.value.as_str().expect("Name.Attribute")),
            "Sub" => match &tagged.value {
                Value::String(pattern) => Value::from(self.substitute(pattern, &Value::Null)),
                Value::Sequence(a) => {
                    Value::from(self.substitute(a[0].as_str().expect("a pattern"), &a[1]))
                }
                other => panic!("Sub {other:?}"),
            },
            "Join" => {
                let items = self.eval(&args()[1]);
                let parts: Vec<&str> = items
                    .as_sequence()
                    .expect("a list to join")
                    .iter()
                    .map(|v| v.as_str().expect("strings to join"))
                    .collect();
                Value::from(parts.join(args()[0].as_str().expect("a delimiter")))
            }
            "Split" => {
                let delimiter = args()[0].as_str().expect("a delimiter");
                Value::Sequence(
                    string(&args()[1])
                        .split(delimiter)
                        .map(Value::from)
                        .collect(),
                )
            }
            "Select" => {
                let index = number(&self.eval(&args()[0])).expect("an index");
                let list = self.eval(&args()[1]);
                list.as_sequence().expect("a list")[usize::try_from(index).expect("an index")]
                    .clone()
            }
            "If" => {
                let condition = args()[0].as_str().expect("a condition");
                self.eval(&args()[if self.condition(condition) { 1 } else { 2 }])
            }
            other => panic!("{other} is not evaluated here"),
        }
    }

    fn substitute(&self, pattern: &str, variables: &Value) -> String {
        let mut out = String::new();
        let mut rest = pattern;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let end = start + rest[start..].find('}').expect("a closing brace");
            let name = &rest[start + 2..end];
            let value = if !variables[name].is_null() {
                self.eval(&variables[name])
            } else if name.contains('.') {
                Value::from(name)
            } else {
                self.reference(name)
            };
            out.push_str(value.as_str().expect("a string to substitute"));
            rest = &rest[end + 1..];
        }
        out.push_str(rest);
        out
    }

    /// A resource's property, evaluated.
    fn property(&self, resource: &str, path: &[&str]) -> Value {
        let mut value = &self.template["Resources"][resource]["Properties"];
        for key in path {
            value = &value[*key];
        }
        assert!(!value.is_null(), "{resource} {path:?}");
        self.eval(value)
    }

    fn output(&self, name: &str) -> Value {
        self.eval(&self.template["Outputs"][name]["Value"])
    }
}

fn function_name(tagged: &TaggedValue) -> String {
    tagged.tag.to_string().trim_start_matches('!').to_owned()
}

fn strings(value: &Value) -> Vec<&str> {
    as_list(value)
        .into_iter()
        .filter_map(Value::as_str)
        .collect()
}

/// An origin parameter's pattern, as CloudFormation applies it (whole value).
fn origin_pattern(template: &Value, parameter: &str) -> regex_lite::Regex {
    let pattern = template["Parameters"][parameter]["AllowedPattern"]
        .as_str()
        .expect("a pattern");
    regex_lite::Regex::new(&format!("^(?:{pattern})$")).expect("a regex")
}

/// Origins no parameter may name: a wildcard, a path, plain HTTP but on
/// localhost, two at once but with commas.
const NOT_ORIGINS: [&str; 6] = [
    "*",
    "https://*.example.com",
    "http://app.example.com",
    "https://app.example.com/",
    "https://app.example.com/path",
    "https://app.example.com https://evil.example",
];

#[test]
fn the_upload_origins_are_the_consoles_and_never_a_wildcard() {
    let template = template();
    // UploadAllowedOrigin is optional: one origin, or none.
    let parameter = &template["Parameters"]["UploadAllowedOrigin"];
    assert_eq!(parameter["Default"].as_str(), Some(""));
    let pattern = origin_pattern(&template, "UploadAllowedOrigin");
    for origin in [
        "",
        "https://app.example.com",
        "https://app.example.com:8443",
        "http://localhost:3000",
    ] {
        assert!(pattern.is_match(origin), "{origin}");
    }
    for origin in NOT_ORIGINS
        .into_iter()
        .chain(["https://a.example,https://b.example"])
    {
        assert!(!pattern.is_match(origin), "{origin}");
    }
    // ConsoleExtraOrigins: none, or origins separated by commas.
    assert_eq!(
        template["Parameters"]["ConsoleExtraOrigins"]["Default"].as_str(),
        Some("")
    );
    let pattern = origin_pattern(&template, "ConsoleExtraOrigins");
    for origins in [
        "",
        "http://localhost:8080",
        "https://staging.example.com,http://localhost:8080",
    ] {
        assert!(pattern.is_match(origins), "{origins}");
    }
    for origins in NOT_ORIGINS.into_iter().chain([
        "https://a.example,*",
        "https://a.example,",
        ",https://a.example",
        "https://a.example, https://b.example",
    ]) {
        assert!(!pattern.is_match(origins), "{origins}");
    }

    // The browser PUTs from the console, from its extra origins and from
    // UploadAllowedOrigin when given; from nowhere else.
    for (upload, extra, expected) in [
        ("", "", vec![CONSOLE]),
        (
            "https://app.example.com",
            "",
            vec![CONSOLE, "https://app.example.com"],
        ),
        (
            "",
            "http://localhost:8080,https://b.example",
            vec![CONSOLE, "http://localhost:8080", "https://b.example"],
        ),
        (
            "https://app.example.com",
            "http://localhost:8080",
            vec![CONSOLE, "https://app.example.com", "http://localhost:8080"],
        ),
    ] {
        let deployment = Deployment::new(
            &template,
            &[
                ("UploadAllowedOrigin", upload),
                ("ConsoleExtraOrigins", extra),
            ],
        );
        let rules = deployment.property("UploadBucket", &["CorsConfiguration", "CorsRules"]);
        assert_eq!(as_list(&rules).len(), 1);
        for rule in as_list(&rules) {
            assert_eq!(strings(&rule["AllowedMethods"]), ["PUT"]);
            assert_eq!(
                strings(&rule["AllowedOrigins"]),
                expected,
                "{upload:?} {extra:?}"
            );
        }
    }
}

#[test]
fn the_console_bucket_is_private_and_only_its_distribution_reads_it() {
    let template = template();
    let resources = &template["Resources"];
    let bucket = &resources["ConsoleBucket"]["Properties"];
    let block = &bucket["PublicAccessBlockConfiguration"];
    for flag in [
        "BlockPublicAcls",
        "BlockPublicPolicy",
        "IgnorePublicAcls",
        "RestrictPublicBuckets",
    ] {
        assert_eq!(block[flag].as_bool(), Some(true), "{flag}");
    }
    assert_eq!(
        bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
            ["ServerSideEncryptionByDefault"]["SSEAlgorithm"]
            .as_str(),
        Some("AES256")
    );
    assert_eq!(
        bucket["OwnershipControls"]["Rules"][0]["ObjectOwnership"].as_str(),
        Some("BucketOwnerEnforced")
    );
    assert!(
        bucket["WebsiteConfiguration"].is_null(),
        "no public website"
    );

    let policy = &resources["ConsoleBucketPolicy"]["Properties"];
    assert_eq!(target(&policy["Bucket"]), Some("ConsoleBucket"));
    let statements = as_list(&policy["PolicyDocument"]["Statement"]);
    // TLS only, as for the upload bucket.
    assert!(statements.iter().any(|s| {
        s["Effect"].as_str() == Some("Deny")
            && s["Condition"]["Bool"]["aws:SecureTransport"].as_str() == Some("false")
            && actions(s) == ["s3:*"]
    }));
    // The one grant: GetObject, to CloudFront, for this distribution.
    let grants: Vec<&&Value> = statements
        .iter()
        .filter(|s| s["Effect"].as_str() == Some("Allow"))
        .collect();
    assert_eq!(grants.len(), 1, "{grants:?}");
    let grant = grants[0];
    assert_eq!(
        grant["Principal"]["Service"].as_str(),
        Some("cloudfront.amazonaws.com")
    );
    assert!(grant["Principal"]["AWS"].is_null());
    assert_eq!(actions(grant), ["s3:GetObject"]);
    assert_eq!(text(&grant["Resource"]), Some("${ConsoleBucket.Arn}/*"));
    assert_eq!(
        text(&grant["Condition"]["StringEquals"]["AWS:SourceArn"]),
        Some(
            "arn:${AWS::Partition}:cloudfront::${AWS::AccountId}:distribution/${ConsoleDistribution}"
        )
    );

    // The distribution reaches the bucket only through its origin access
    // control, which signs every request.
    let control =
        &resources["ConsoleOriginAccessControl"]["Properties"]["OriginAccessControlConfig"];
    assert_eq!(
        control["OriginAccessControlOriginType"].as_str(),
        Some("s3")
    );
    assert_eq!(control["SigningBehavior"].as_str(), Some("always"));
    assert_eq!(control["SigningProtocol"].as_str(), Some("sigv4"));
    let distribution = &resources["ConsoleDistribution"]["Properties"]["DistributionConfig"];
    let origins = as_list(&distribution["Origins"]);
    assert_eq!(origins.len(), 1);
    let origin = origins[0];
    assert_eq!(
        text(&origin["DomainName"]),
        Some("ConsoleBucket.RegionalDomainName")
    );
    assert_eq!(
        text(&origin["OriginAccessControlId"]),
        Some("ConsoleOriginAccessControl.Id")
    );
    assert_eq!(
        origin["S3OriginConfig"]["OriginAccessIdentity"].as_str(),
        Some("")
    );
    assert_eq!(
        distribution["DefaultRootObject"].as_str(),
        Some("index.html")
    );
    let behavior = &distribution["DefaultCacheBehavior"];
    assert_eq!(behavior["TargetOriginId"].as_str(), origin["Id"].as_str());
    assert_eq!(
        behavior["ViewerProtocolPolicy"].as_str(),
        Some("redirect-to-https")
    );
    // AWS managed: CachingOptimized and SecurityHeadersPolicy.
    assert_eq!(
        behavior["CachePolicyId"].as_str(),
        Some("658327ea-f89d-4fab-a63d-7e88639e58f6")
    );
    assert_eq!(
        behavior["ResponseHeadersPolicyId"].as_str(),
        Some("67f7725c-6f97-4210-82d7-5512b31e9d03")
    );
    assert!(distribution["CacheBehaviors"].is_null(), "one behaviour");
    assert_eq!(distribution["HttpVersion"].as_str(), Some("http2"));
    assert_eq!(distribution["PriceClass"].as_str(), Some("PriceClass_100"));
    assert_eq!(distribution["IPV6Enabled"].as_bool(), Some(true));

    // No function touches the console's files.
    for (name, function) in functions(&template) {
        let statements = serde_yaml::to_string(&role_statements(function)).unwrap_or_default();
        assert!(!statements.contains("ConsoleBucket"), "{name}");
    }

    // Its URL is an output, and where the OAuth callback returns unless
    // AppReturnUrl says otherwise.
    let console = format!("{CONSOLE}/");
    for (given, expected) in [
        ("", console.as_str()),
        (
            "https://app.example.com/accounts",
            "https://app.example.com/accounts",
        ),
    ] {
        let deployment = Deployment::new(&template, &[("AppReturnUrl", given)]);
        assert_eq!(
            deployment
                .property(
                    "OAuthCallbackFunction",
                    &["Environment", "Variables", "APP_RETURN_URL"]
                )
                .as_str(),
            Some(expected)
        );
        assert_eq!(
            deployment.output("ConsoleUrl").as_str(),
            Some(console.as_str())
        );
    }
    assert_eq!(
        template["Parameters"]["AppReturnUrl"]["Default"].as_str(),
        Some("")
    );
    for output in ["ConsoleBucketName", "ConsoleDistributionId"] {
        assert!(!template["Outputs"][output]["Value"].is_null(), "{output}");
    }
}

#[test]
fn the_api_allows_the_consoles_origin_and_no_wildcard() {
    let template = template();
    // Every method a route answers.
    let mut methods = BTreeSet::new();
    for (_, function) in functions(&template) {
        let Some(events) = function["Properties"]["Events"].as_mapping() else {
            continue;
        };
        for event in events.values() {
            if event["Type"].as_str() == Some("HttpApi") {
                let method = event["Properties"]["Method"].as_str().expect("a method");
                methods.insert(method.to_uppercase());
            }
        }
    }
    let mut configurations = Vec::new();
    for (extra, expected) in [
        ("", vec![CONSOLE]),
        (
            "http://localhost:8080,https://b.example",
            vec![CONSOLE, "http://localhost:8080", "https://b.example"],
        ),
    ] {
        let deployment = Deployment::new(&template, &[("ConsoleExtraOrigins", extra)]);
        let mut cors = deployment.property("HttpApi", &["CorsConfiguration"]);
        assert_eq!(strings(&cors["AllowOrigins"]), expected, "{extra:?}");
        assert_eq!(
            strings(&cors["AllowHeaders"]),
            ["authorization", "content-type"]
        );
        let allowed: BTreeSet<String> = strings(&cors["AllowMethods"])
            .into_iter()
            .map(str::to_owned)
            .collect();
        assert_eq!(allowed, methods);
        assert_eq!(number(&cors["MaxAge"]), Some(600));
        assert_ne!(cors["AllowCredentials"].as_bool(), Some(true));
        let all = serde_yaml::to_string(&cors).expect("YAML");
        assert!(!all.contains('*'), "no wildcard: {all}");
        // Both branches of the configuration differ by their origins only.
        cors.as_mapping_mut()
            .expect("a configuration")
            .remove("AllowOrigins");
        configurations.push(cors);
    }
    assert_eq!(configurations[0], configurations[1]);
}

#[test]
fn cognito_is_created_only_without_an_issuer_and_then_backs_the_authorizer() {
    let template = template();
    let parameters = &template["Parameters"];
    for optional in ["JwtIssuer", "JwtAudience", "CognitoDomainPrefix"] {
        assert_eq!(
            parameters[optional]["Default"].as_str(),
            Some(""),
            "{optional}"
        );
    }
    // Every Cognito resource exists only under the one condition, true
    // exactly when no issuer is given.
    let resources = template["Resources"].as_mapping().expect("resources");
    let mut cognito: Vec<&str> = resources
        .iter()
        .filter(|(_, r)| {
            r["Type"]
                .as_str()
                .is_some_and(|t| t.starts_with("AWS::Cognito::"))
        })
        .map(|(name, r)| {
            assert_eq!(r["Condition"].as_str(), Some("CreatesUserPool"), "{name:?}");
            name.as_str().expect("a name")
        })
        .collect();
    cognito.sort_unstable();
    assert_eq!(cognito, ["UserPool", "UserPoolClient", "UserPoolDomain"]);
    for output in ["AuthorizationEndpoint", "TokenEndpoint"] {
        assert_eq!(
            template["Outputs"][output]["Condition"].as_str(),
            Some("CreatesUserPool"),
            "{output}"
        );
    }

    let jwt = |d: &Deployment, key: &str| {
        d.property(
            "HttpApi",
            &["Auth", "Authorizers", "Jwt", "JwtConfiguration", key],
        )
    };
    let issuer_of = |d: &Deployment| jwt(d, "issuer");
    let audience_of = |d: &Deployment| jwt(d, "audience");

    // An identity provider given: no pool; its issuer and audiences.
    let given = Deployment::new(
        &template,
        &[
            ("JwtIssuer", "https://idp.example.com/"),
            ("JwtAudience", "console-client,other-client"),
        ],
    );
    assert!(!given.condition("CreatesUserPool"));
    assert_eq!(issuer_of(&given).as_str(), Some("https://idp.example.com/"));
    assert_eq!(
        strings(&audience_of(&given)),
        ["console-client", "other-client"]
    );
    assert_eq!(given.output("IdentityIssuer"), issuer_of(&given));
    assert_eq!(
        given.output("IdentityClientId").as_str(),
        Some("console-client")
    );

    // None given: the pool's issuer, the console's client as audience.
    let created = Deployment::new(&template, &[]);
    assert!(created.condition("CreatesUserPool"));
    let pool_issuer = "https://cognito-idp.us-east-1.amazonaws.com/ref:UserPool";
    assert_eq!(issuer_of(&created).as_str(), Some(pool_issuer));
    assert_eq!(strings(&audience_of(&created)), ["ref:UserPoolClient"]);
    assert_eq!(created.output("IdentityIssuer").as_str(), Some(pool_issuer));
    assert_eq!(
        created.output("IdentityClientId").as_str(),
        Some("ref:UserPoolClient")
    );
    for (output, path) in [
        ("AuthorizationEndpoint", "authorize"),
        ("TokenEndpoint", "token"),
    ] {
        assert_eq!(
            created.output(output).as_str(),
            Some(
                format!(
                    "https://ref:UserPoolDomain.auth.us-east-1.amazoncognito.com/oauth2/{path}"
                )
                .as_str()
            )
        );
    }

    // Email addresses sign in; administrators alone create users unless
    // self sign-up is asked for.
    let pool = |d: &Deployment, path: &[&str]| d.property("UserPool", path);
    assert_eq!(strings(&pool(&created, &["UsernameAttributes"])), ["email"]);
    let admin_only = ["AdminCreateUserConfig", "AllowAdminCreateUserOnly"];
    assert_eq!(pool(&created, &admin_only).as_bool(), Some(true));
    let open = Deployment::new(&template, &[("CognitoSelfSignUp", "true")]);
    assert_eq!(pool(&open, &admin_only).as_bool(), Some(false));

    // Its sign-in domain: the prefix given, or one made of the stack's id,
    // which Cognito accepts.
    let cognito_prefix =
        regex_lite::Regex::new("^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$").expect("a regex");
    let derived = created.property("UserPoolDomain", &["Domain"]);
    let derived = derived.as_str().expect("a prefix");
    assert_eq!(
        derived,
        "tiktok-manager-1c2fa620-982a-11e3-aff7-50e2416294e0"
    );
    assert!(cognito_prefix.is_match(derived));
    let named = Deployment::new(&template, &[("CognitoDomainPrefix", "acme-tiktok")]);
    assert_eq!(
        named.property("UserPoolDomain", &["Domain"]).as_str(),
        Some("acme-tiktok")
    );

    // The console's client: public (no secret), the code flow on the
    // hosted sign-in, refreshes; its URLs the console's.
    let client = &template["Resources"]["UserPoolClient"]["Properties"];
    assert_eq!(client["GenerateSecret"].as_bool(), Some(false));
    assert_eq!(
        client["AllowedOAuthFlowsUserPoolClient"].as_bool(),
        Some(true)
    );
    assert_eq!(strings(&client["AllowedOAuthFlows"]), ["code"]);
    assert_eq!(
        strings(&client["AllowedOAuthScopes"]),
        ["openid", "email", "profile"]
    );
    assert_eq!(strings(&client["SupportedIdentityProviders"]), ["COGNITO"]);
    assert_eq!(
        strings(&client["ExplicitAuthFlows"]),
        ["ALLOW_REFRESH_TOKEN_AUTH"]
    );
    let console = format!("{CONSOLE}/");
    for (extra, expected) in [
        ("", vec![console.as_str()]),
        (
            "http://localhost:8080,https://b.example",
            vec![
                console.as_str(),
                "http://localhost:8080/",
                "https://b.example/",
            ],
        ),
    ] {
        let deployment = Deployment::new(&template, &[("ConsoleExtraOrigins", extra)]);
        for urls in ["CallbackURLs", "LogoutURLs"] {
            assert_eq!(
                strings(&deployment.property("UserPoolClient", &[urls])),
                expected,
                "{urls} {extra:?}"
            );
        }
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
