//! The calls behind `proxydoc logging`: read a proxy's DebugLogging, status and tags; turn
//! DebugLogging on or off; add and remove proxydoc's tags; wait until the proxy is available
//! again; say who is calling. Errors name the call, the proxy and the IAM action.

use super::actions;

use crate::model::RdsStatus;
use std::time::Duration;

use super::AwsContext;

/// What `logging` needs to know about a proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyLogging {
    pub name: String,
    pub arn: String,
    pub status: RdsStatus,
    pub debug_logging: bool,
    pub tags: Vec<(String, String)>,
}

#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    #[error("proxy {proxy} not found in {region}: check the name and the region")]
    UnknownProxy { proxy: String, region: String },
    #[error("{0}")]
    Call(String),
    #[error(
        "proxy {proxy} is still `{status}` after {seconds} s; check it with `aws rds describe-db-proxies --db-proxy-name {proxy}`"
    )]
    Timeout {
        proxy: String,
        status: RdsStatus,
        seconds: u64,
    },
}

#[derive(Clone)]
pub struct Lifecycle {
    rds: aws_sdk_rds::Client,
    sts: aws_sdk_sts::Client,
    region: String,
}

fn explain<E, R>(
    call: &actions::Call,
    object: &str,
    error: &aws_sdk_rds::error::SdkError<E, R>,
) -> String
where
    E: aws_sdk_rds::error::ProvideErrorMetadata + std::fmt::Display + std::fmt::Debug,
    R: std::fmt::Debug,
{
    super::control::explain(call, object, error)
}

impl Lifecycle {
    pub fn new(ctx: &AwsContext) -> Lifecycle {
        Lifecycle {
            rds: aws_sdk_rds::Client::new(&ctx.config),
            sts: aws_sdk_sts::Client::new(&ctx.config),
            region: ctx.region().to_string(),
        }
    }

    /// The caller's ARN, for the `enabled-by` tag (`unknown` when STS does not answer).
    pub async fn caller(&self) -> String {
        match self.sts.get_caller_identity().send().await {
            Ok(output) => output.arn().unwrap_or("unknown").to_string(),
            Err(_) => "unknown".to_string(),
        }
    }

    pub async fn read(&self, proxy: &str) -> Result<ProxyLogging, LifecycleError> {
        let output = match self
            .rds
            .describe_db_proxies()
            .db_proxy_name(proxy)
            .send()
            .await
        {
            Ok(output) => output,
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_db_proxy_not_found_fault()) =>
            {
                return Err(LifecycleError::UnknownProxy {
                    proxy: proxy.to_string(),
                    region: self.region.clone(),
                });
            }
            Err(e) => {
                return Err(LifecycleError::Call(explain(
                    &actions::DESCRIBE_DB_PROXIES,
                    proxy,
                    &e,
                )));
            }
        };
        let Some(found) = output.db_proxies().first() else {
            return Err(LifecycleError::UnknownProxy {
                proxy: proxy.to_string(),
                region: self.region.clone(),
            });
        };
        let arn = found.db_proxy_arn().unwrap_or_default().to_string();
        let tags = self
            .rds
            .list_tags_for_resource()
            .resource_name(&arn)
            .send()
            .await
            .map_err(|e| {
                LifecycleError::Call(explain(&actions::LIST_TAGS_FOR_RESOURCE, &arn, &e))
            })?;
        Ok(ProxyLogging {
            name: proxy.to_string(),
            arn,
            status: RdsStatus::parse(found.status().map_or("", |s| s.as_str())),
            debug_logging: found.debug_logging().unwrap_or(false),
            tags: tags
                .tag_list()
                .iter()
                .filter_map(|t| {
                    Some((
                        t.key()?.to_string(),
                        t.value().unwrap_or_default().to_string(),
                    ))
                })
                .collect(),
        })
    }

    pub async fn set_debug_logging(&self, proxy: &str, on: bool) -> Result<(), LifecycleError> {
        self.rds
            .modify_db_proxy()
            .db_proxy_name(proxy)
            .debug_logging(on)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| LifecycleError::Call(explain(&actions::MODIFY_DB_PROXY, proxy, &e)))
    }

    pub async fn add_tags(
        &self,
        arn: &str,
        tags: &[(String, String)],
    ) -> Result<(), LifecycleError> {
        let tags: Vec<aws_sdk_rds::types::Tag> = tags
            .iter()
            .map(|(k, v)| aws_sdk_rds::types::Tag::builder().key(k).value(v).build())
            .collect();
        self.rds
            .add_tags_to_resource()
            .resource_name(arn)
            .set_tags(Some(tags))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| LifecycleError::Call(explain(&actions::ADD_TAGS_TO_RESOURCE, arn, &e)))
    }

    pub async fn remove_tags(&self, arn: &str, keys: &[&str]) -> Result<(), LifecycleError> {
        self.rds
            .remove_tags_from_resource()
            .resource_name(arn)
            .set_tag_keys(Some(keys.iter().map(|k| k.to_string()).collect()))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| {
                LifecycleError::Call(explain(&actions::REMOVE_TAGS_FROM_RESOURCE, arn, &e))
            })
    }

    /// Polls until the proxy is `available` (every `interval`, for at most `timeout`).
    pub async fn wait_available(
        &self,
        proxy: &str,
        interval: Duration,
        timeout: Duration,
    ) -> Result<(), LifecycleError> {
        let started = tokio::time::Instant::now();
        loop {
            let state = self.read(proxy).await?;
            if state.status.is_available() {
                return Ok(());
            }
            if started.elapsed() >= timeout {
                return Err(LifecycleError::Timeout {
                    proxy: proxy.to_string(),
                    status: state.status,
                    seconds: timeout.as_secs(),
                });
            }
            tokio::time::sleep(interval).await;
        }
    }
}
