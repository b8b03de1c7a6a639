//! CloudWatch Logs: only the calls proxydoc makes, with proxydoc's own request, page and
//! error types so that nothing outside `aws/` sees the SDK.
//!
//! Errors are classified for the caller's retry logic: throttling (back off and resume from
//! the same token, forever), transient (retry a few times), not found, access denied (name the
//! IAM action), other. FilterLogEvents is always sent with `interleaved=true` (AWS ignores it,
//! moto needs it) and the log group by name (moto's identifier lookup is broken).

use super::actions;

use std::future::Future;

use aws_sdk_cloudwatchlogs::error::{ProvideErrorMetadata, SdkError};

use crate::model::Millis;

/// One FilterLogEvents page request; `start` and `end` are inclusive, in epoch ms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    pub group: String,
    pub start: Millis,
    pub end: Millis,
    pub token: Option<String>,
    pub limit: i32,
}

/// One log event as CloudWatch returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEvent {
    pub id: String,
    pub timestamp: Millis,
    pub ingestion_time: Option<Millis>,
    pub stream: String,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Page {
    pub events: Vec<LogEvent>,
    pub next_token: Option<String>,
}

/// Why a call failed, in the terms the fetcher acts on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogsError {
    #[error("throttled: {0}")]
    Throttled(String),
    #[error("{0}")]
    Transient(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    AccessDenied(String),
    /// The service refused to start something for now (Live Tail's 15 concurrent sessions per
    /// account).
    #[error("{0}")]
    Refused(String),
    #[error("{0}")]
    Other(String),
}

impl LogsError {
    pub fn is_throttling(&self) -> bool {
        matches!(self, LogsError::Throttled(_))
    }
}

/// The CloudWatch Logs calls the fetcher needs; implemented by [`LogsClient`] and by test
/// doubles.
pub trait LogsApi: Send + Sync + 'static {
    fn filter_page(
        &self,
        request: PageRequest,
    ) -> impl Future<Output = Result<Page, LogsError>> + Send;

    /// The log group's ARN (without the trailing `:*`), `Ok(None)` when it does not exist.
    fn find_group(
        &self,
        group: &str,
    ) -> impl Future<Output = Result<Option<String>, LogsError>> + Send;
}

/// One Logs Insights query to start; times in epoch seconds, `end` inclusive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryRequest {
    pub groups: Vec<String>,
    pub start: i64,
    pub end: i64,
    pub query: String,
    pub limit: i32,
}

/// Where a Logs Insights query is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryState {
    Scheduled,
    Running,
    Complete,
    Failed,
    Cancelled,
    Timeout,
    Unknown,
}

impl QueryState {
    pub fn is_done(self) -> bool {
        !matches!(self, QueryState::Scheduled | QueryState::Running)
    }
}

/// What GetQueryResults says: the state, the rows so far (field, value), the statistics.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct QueryResults {
    pub state: Option<QueryState>,
    pub rows: Vec<Vec<(String, String)>>,
    pub bytes_scanned: f64,
    pub records_scanned: f64,
    pub records_matched: f64,
}

/// What DescribeLogGroups says about a group's size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GroupSize {
    pub stored_bytes: i64,
    pub created: Option<Millis>,
    pub retention_days: Option<i32>,
}

/// The Logs Insights calls `analyze --engine insights` makes; implemented by [`LogsClient`]
/// and by test doubles.
pub trait InsightsApi: Send + Sync + 'static {
    fn start_query(
        &self,
        request: QueryRequest,
    ) -> impl Future<Output = Result<String, LogsError>> + Send;

    fn query_results(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<QueryResults, LogsError>> + Send;

    fn stop_query(&self, id: &str) -> impl Future<Output = Result<(), LogsError>> + Send;

    /// The group's size and age (DescribeLogGroups), `Ok(None)` when it does not exist.
    fn group_size(
        &self,
        group: &str,
    ) -> impl Future<Output = Result<Option<GroupSize>, LogsError>> + Send;

    /// Up to `limit` events of `group` in [start, end] ms matching a FilterLogEvents
    /// `pattern` (one page: a bounded sample).
    fn sample(
        &self,
        group: &str,
        start: Millis,
        end: Millis,
        pattern: &str,
        limit: i32,
    ) -> impl Future<Output = Result<Vec<LogEvent>, LogsError>> + Send;
}

/// One event of a Live Tail session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveEvent {
    /// The log group as the stream names it (an ARN, or a name).
    pub group: String,
    pub stream: String,
    pub timestamp: Millis,
    pub ingestion_time: Option<Millis>,
    pub message: String,
}

/// What a Live Tail session delivers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LiveUpdate {
    /// The session is open (the service's `sessionStart`).
    Started,
    /// A batch of events; `sampled` when the service dropped events (over 500 per second).
    Events {
        events: Vec<LiveEvent>,
        sampled: bool,
    },
}

/// An open Live Tail session.
pub trait LiveSession: Send + 'static {
    /// The next update; `Ok(None)` when the service closed the session.
    fn next(&mut self) -> impl Future<Output = Result<Option<LiveUpdate>, LogsError>> + Send;
}

/// CloudWatch Logs Live Tail (StartLiveTail, an event stream).
pub trait LiveApi: LogsApi {
    type Session: LiveSession;

    /// Starts a session over log groups given by ARN (at most 10).
    fn start_live_tail(
        &self,
        group_arns: &[String],
    ) -> impl Future<Output = Result<Self::Session, LogsError>> + Send;
}

/// The SDK client, wrapped.
#[derive(Clone)]
pub struct LogsClient {
    client: aws_sdk_cloudwatchlogs::Client,
    region: String,
}

impl LogsClient {
    pub fn new(client: aws_sdk_cloudwatchlogs::Client, region: &str) -> LogsClient {
        LogsClient {
            client,
            region: region.to_string(),
        }
    }
}

/// One attempt per call for the calls proxydoc retries itself (FilterLogEvents in the fetcher
/// and the live driver, StartQuery and GetQueryResults in the Insights driver, StartLiveTail
/// renewed by the live driver): the SDK's standard retries underneath would multiply the
/// attempts and hide throttling from proxydoc's rate limiter. One-shot calls (DescribeLogGroups,
/// the evidence sample) keep the SDK's retries.
fn own_retries() -> aws_sdk_cloudwatchlogs::config::Builder {
    aws_sdk_cloudwatchlogs::config::Builder::default()
        .retry_config(aws_sdk_cloudwatchlogs::config::retry::RetryConfig::disabled())
}

impl LogsApi for LogsClient {
    async fn filter_page(&self, request: PageRequest) -> Result<Page, LogsError> {
        // `interleaved` is deprecated (AWS always interleaves) but moto needs it.
        #[allow(deprecated)]
        let output = self
            .client
            .filter_log_events()
            .log_group_name(&request.group)
            .start_time(request.start)
            .end_time(request.end)
            .interleaved(true)
            .limit(request.limit)
            .set_next_token(request.token.clone())
            .customize()
            .config_override(own_retries())
            .send()
            .await
            .map_err(|e| {
                classify(
                    "FilterLogEvents",
                    &request.group,
                    &self.region,
                    &actions::FILTER_LOG_EVENTS,
                    &e,
                )
            })?;
        let events = output.events().iter().filter_map(log_event).collect();
        Ok(Page {
            events,
            next_token: output.next_token().map(str::to_string),
        })
    }

    async fn find_group(&self, group: &str) -> Result<Option<String>, LogsError> {
        Ok(self.describe_group(group).await?.map(|found| {
            found
                .log_group_arn()
                .map(str::to_string)
                .or_else(|| found.arn().map(|a| a.trim_end_matches(":*").to_string()))
                .unwrap_or_default()
        }))
    }
}

impl LogsClient {
    /// The group named exactly `group` (DescribeLogGroups by prefix, every page).
    async fn describe_group(
        &self,
        group: &str,
    ) -> Result<Option<aws_sdk_cloudwatchlogs::types::LogGroup>, LogsError> {
        let mut token = None;
        loop {
            let output = self
                .client
                .describe_log_groups()
                .log_group_name_prefix(group)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| {
                    classify(
                        "DescribeLogGroups",
                        group,
                        &self.region,
                        &actions::DESCRIBE_LOG_GROUPS,
                        &e,
                    )
                })?;
            if let Some(found) = output
                .log_groups()
                .iter()
                .find(|g| g.log_group_name() == Some(group))
            {
                return Ok(Some(found.clone()));
            }
            match output.next_token() {
                Some(next) => token = Some(next.to_string()),
                None => return Ok(None),
            }
        }
    }
}

fn log_event(e: &aws_sdk_cloudwatchlogs::types::FilteredLogEvent) -> Option<LogEvent> {
    Some(LogEvent {
        id: e.event_id()?.to_string(),
        timestamp: e.timestamp()?,
        ingestion_time: e.ingestion_time(),
        stream: e.log_stream_name().unwrap_or_default().to_string(),
        message: e.message().unwrap_or_default().to_string(),
    })
}

impl InsightsApi for LogsClient {
    async fn start_query(&self, request: QueryRequest) -> Result<String, LogsError> {
        let groups = request.groups.join(", ");
        // By name: moto answers `logGroupIdentifiers` with a 500.
        let output = self
            .client
            .start_query()
            .set_log_group_names(Some(request.groups))
            .start_time(request.start)
            .end_time(request.end)
            .query_string(request.query)
            .limit(request.limit)
            .customize()
            .config_override(own_retries())
            .send()
            .await
            .map_err(|e| {
                classify(
                    "StartQuery",
                    &groups,
                    &self.region,
                    &actions::START_QUERY,
                    &e,
                )
            })?;
        output
            .query_id()
            .map(str::to_string)
            .ok_or_else(|| LogsError::Other("StartQuery returned no query id".to_string()))
    }

    async fn query_results(&self, id: &str) -> Result<QueryResults, LogsError> {
        use aws_sdk_cloudwatchlogs::types::QueryStatus as S;
        let output = self
            .client
            .get_query_results()
            .query_id(id)
            .customize()
            .config_override(own_retries())
            .send()
            .await
            .map_err(|e| {
                classify(
                    "GetQueryResults",
                    id,
                    &self.region,
                    &actions::GET_QUERY_RESULTS,
                    &e,
                )
            })?;
        let state = output.status().map(|s| match s {
            S::Scheduled => QueryState::Scheduled,
            S::Running => QueryState::Running,
            S::Complete => QueryState::Complete,
            S::Failed => QueryState::Failed,
            S::Cancelled => QueryState::Cancelled,
            S::Timeout => QueryState::Timeout,
            _ => QueryState::Unknown,
        });
        let rows = output
            .results()
            .iter()
            .map(|row| {
                row.iter()
                    .filter_map(|f| Some((f.field()?.to_string(), f.value()?.to_string())))
                    .collect()
            })
            .collect();
        let stats = output.statistics();
        Ok(QueryResults {
            state,
            rows,
            bytes_scanned: stats.map_or(0.0, |s| s.bytes_scanned()),
            records_scanned: stats.map_or(0.0, |s| s.records_scanned()),
            records_matched: stats.map_or(0.0, |s| s.records_matched()),
        })
    }

    async fn stop_query(&self, id: &str) -> Result<(), LogsError> {
        self.client
            .stop_query()
            .query_id(id)
            .send()
            .await
            .map_err(|e| classify("StopQuery", id, &self.region, &actions::STOP_QUERY, &e))?;
        Ok(())
    }

    async fn group_size(&self, group: &str) -> Result<Option<GroupSize>, LogsError> {
        Ok(self.describe_group(group).await?.map(|g| GroupSize {
            stored_bytes: g.stored_bytes().unwrap_or(0),
            created: g.creation_time(),
            retention_days: g.retention_in_days(),
        }))
    }

    async fn sample(
        &self,
        group: &str,
        start: Millis,
        end: Millis,
        pattern: &str,
        limit: i32,
    ) -> Result<Vec<LogEvent>, LogsError> {
        #[allow(deprecated)]
        let output = self
            .client
            .filter_log_events()
            .log_group_name(group)
            .start_time(start)
            .end_time(end)
            .filter_pattern(pattern)
            .interleaved(true)
            .limit(limit)
            .send()
            .await
            .map_err(|e| {
                classify(
                    "FilterLogEvents",
                    group,
                    &self.region,
                    &actions::FILTER_LOG_EVENTS,
                    &e,
                )
            })?;
        Ok(output.events().iter().filter_map(log_event).collect())
    }
}

/// A Live Tail session of the SDK client.
pub struct SdkLiveSession {
    output: aws_sdk_cloudwatchlogs::operation::start_live_tail::StartLiveTailOutput,
    groups: String,
    region: String,
}

impl LiveSession for SdkLiveSession {
    async fn next(&mut self) -> Result<Option<LiveUpdate>, LogsError> {
        use aws_sdk_cloudwatchlogs::types::StartLiveTailResponseStream as Stream;
        loop {
            let item = self.output.response_stream.recv().await.map_err(|e| {
                classify(
                    "StartLiveTail (stream)",
                    &self.groups,
                    &self.region,
                    &actions::START_LIVE_TAIL,
                    &e,
                )
            })?;
            return Ok(match item {
                None => None,
                Some(Stream::SessionStart(_)) => Some(LiveUpdate::Started),
                Some(Stream::SessionUpdate(update)) => Some(LiveUpdate::Events {
                    sampled: update.session_metadata().is_some_and(|m| m.sampled()),
                    events: update
                        .session_results()
                        .iter()
                        .filter_map(|e| {
                            Some(LiveEvent {
                                group: e.log_group_identifier().unwrap_or_default().to_string(),
                                stream: e.log_stream_name().unwrap_or_default().to_string(),
                                timestamp: e.timestamp()?,
                                ingestion_time: e.ingestion_time(),
                                message: e.message().unwrap_or_default().to_string(),
                            })
                        })
                        .collect(),
                }),
                // A message type newer than this SDK: skip it.
                Some(_) => continue,
            });
        }
    }
}

impl LiveApi for LogsClient {
    type Session = SdkLiveSession;

    async fn start_live_tail(&self, group_arns: &[String]) -> Result<SdkLiveSession, LogsError> {
        let groups = group_arns.join(", ");
        let output = self
            .client
            .start_live_tail()
            .set_log_group_identifiers(Some(group_arns.to_vec()))
            .customize()
            .config_override(own_retries())
            .send()
            .await
            .map_err(|e| {
                classify(
                    "StartLiveTail",
                    &groups,
                    &self.region,
                    &actions::START_LIVE_TAIL,
                    &e,
                )
            })?;
        Ok(SdkLiveSession {
            output,
            groups,
            region: self.region.clone(),
        })
    }
}

/// StartLiveTail's endpoint has a modeled host prefix (`stream-`), which turns a local endpoint
/// such as `http://127.0.0.1:5000` into a host that does not resolve. The SDK cannot switch
/// host prefixes off, so when an endpoint override is in effect this interceptor removes it
/// again after endpoint resolution and before signing. It is never installed for AWS itself.
#[derive(Debug)]
pub(crate) struct StripHostPrefix;

impl aws_smithy_runtime_api::client::interceptors::Intercept for StripHostPrefix {
    fn name(&self) -> &'static str {
        "proxydoc::StripHostPrefix"
    }

    fn modify_before_signing(
        &self,
        context: &mut aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextMut<'_>,
        _runtime_components: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
        _cfg: &mut aws_smithy_types::config_bag::ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        let request = context.request_mut();
        if let Some(fixed) = strip_stream_prefix(request.uri()) {
            request.set_uri(fixed)?;
        }
        Ok(())
    }
}

/// `http://stream-127.0.0.1:5000/` → `http://127.0.0.1:5000/`; `None` when there is no prefix.
pub(crate) fn strip_stream_prefix(uri: &str) -> Option<String> {
    uri.contains("://stream-")
        .then(|| uri.replacen("://stream-", "://", 1))
}

/// Maps an SDK error to a [`LogsError`] whose message names the call, the log group and,
/// for access errors, the IAM action to grant.
fn classify<E, R>(
    call: &str,
    group: &str,
    region: &str,
    api: &actions::Call,
    error: &SdkError<E, R>,
) -> LogsError
where
    E: ProvideErrorMetadata + std::fmt::Display + std::fmt::Debug,
    R: std::fmt::Debug,
{
    match error {
        SdkError::ServiceError(service) => {
            let err = service.err();
            let display = err.to_string();
            // Modeled errors display as `Code: message`; use that when the metadata has no code.
            let code = err.code().map(str::to_string).unwrap_or_else(|| {
                display
                    .split_once(':')
                    .map(|(c, _)| c)
                    .filter(|c| c.chars().all(|ch| ch.is_ascii_alphanumeric()))
                    .unwrap_or_default()
                    .to_string()
            });
            let code = code.as_str();
            let message = match err.message() {
                Some(message) => message.to_string(),
                None => display
                    .strip_prefix(&format!("{code}: "))
                    .unwrap_or(&display)
                    .to_string(),
            };
            let text = if code.is_empty() {
                format!(
                    "{call} on log group {group} failed: {message} (no error code; raw response {:?})",
                    service.raw()
                )
            } else {
                format!("{call} on log group {group} failed: {code}: {message}")
            };
            match code {
                "LimitExceededException" if call == "StartLiveTail" => LogsError::Refused(format!(
                    "{text} (CloudWatch allows 15 concurrent Live Tail sessions per account and Region)"
                )),
                "ThrottlingException"
                | "LimitExceededException"
                | "TooManyRequestsException"
                | "RequestLimitExceeded" => LogsError::Throttled(text),
                "ResourceNotFoundException" => LogsError::NotFound(format!(
                    "log group {group} not found in {region}: the proxy has not logged anything yet, or the name or region is wrong"
                )),
                "AccessDeniedException" | "UnauthorizedOperation" | "AccessDenied" => {
                    LogsError::AccessDenied(format!(
                        "{text}; grant {} on log group {group}",
                        api.action
                    ))
                }
                "ServiceUnavailableException" | "InternalFailure" | "InternalServerError" => {
                    LogsError::Transient(text)
                }
                "" => LogsError::Transient(text),
                _ => LogsError::Other(text),
            }
        }
        SdkError::TimeoutError(_) => {
            LogsError::Transient(format!("{call} on log group {group} timed out"))
        }
        SdkError::DispatchFailure(failure) => LogsError::Transient(format!(
            "{call} on log group {group} could not reach the endpoint: {failure:?}"
        )),
        SdkError::ResponseError(_) => LogsError::Transient(format!(
            "{call} on log group {group}: the response could not be read"
        )),
        _ => LogsError::Other(format!("{call} on log group {group} failed: {error:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_cloudwatchlogs::Client;
    use aws_sdk_cloudwatchlogs::operation::filter_log_events::{
        FilterLogEventsError, FilterLogEventsOutput,
    };
    use aws_sdk_cloudwatchlogs::types::FilteredLogEvent;
    use aws_sdk_cloudwatchlogs::types::error::ResourceNotFoundException;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;

    fn request() -> PageRequest {
        PageRequest {
            group: "/aws/rds/proxy/p".into(),
            start: 0,
            end: 10,
            token: None,
            limit: 100,
        }
    }

    fn throttling() -> aws_smithy_runtime_api::http::Response {
        let mut response = aws_smithy_runtime_api::http::Response::new(
            StatusCode::try_from(400).unwrap(),
            SdkBody::from(r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#),
        );
        response
            .headers_mut()
            .insert("content-type", "application/x-amz-json-1.1");
        response
    }

    #[tokio::test]
    async fn pages_map_to_plain_types() {
        let rule = mock!(Client::filter_log_events)
            .match_requests(|r| r.log_group_name() == Some("/aws/rds/proxy/p"))
            .then_output(|| {
                FilterLogEventsOutput::builder()
                    .events(
                        FilteredLogEvent::builder()
                            .event_id("e1")
                            .timestamp(5)
                            .log_stream_name("s")
                            .message("m")
                            .build(),
                    )
                    .next_token("t2")
                    .build()
            });
        let client = LogsClient::new(mock_client!(aws_sdk_cloudwatchlogs, [&rule]), "us-east-1");
        let page = client.filter_page(request()).await.unwrap();
        assert_eq!(page.next_token.as_deref(), Some("t2"));
        assert_eq!(page.events[0].id, "e1");
        assert_eq!(page.events[0].message, "m");
    }

    #[tokio::test]
    async fn throttling_and_not_found_are_classified() {
        let rule = mock!(Client::filter_log_events).then_http_response(throttling);
        let client = mock_client!(aws_sdk_cloudwatchlogs, RuleMode::MatchAny, [&rule], |c| c
            .retry_config(aws_sdk_cloudwatchlogs::config::retry::RetryConfig::disabled()));
        let error = LogsClient::new(client, "us-east-1")
            .filter_page(request())
            .await
            .unwrap_err();
        assert!(error.is_throttling(), "{error:?}");

        let rule = mock!(Client::filter_log_events).then_error(|| {
            FilterLogEventsError::ResourceNotFoundException(
                ResourceNotFoundException::builder()
                    .message("The specified log group does not exist.")
                    .build(),
            )
        });
        let client = LogsClient::new(mock_client!(aws_sdk_cloudwatchlogs, [&rule]), "eu-west-1");
        let error = client.filter_page(request()).await.unwrap_err();
        assert_eq!(
            error,
            LogsError::NotFound(
                "log group /aws/rds/proxy/p not found in eu-west-1: the proxy has not logged anything yet, or the name or region is wrong".into()
            )
        );
    }
}
