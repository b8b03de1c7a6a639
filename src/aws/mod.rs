//! The AWS boundary: the one place that builds an SDK configuration, and thin wrappers over the
//! calls proxydoc makes. No AWS SDK type leaves this module; callers see proxydoc's own types.
//!
//! Configuration follows the standard chain (environment, profile, SSO, instance roles) with
//! `--profile`, `--region` and `--endpoint-url` (or `AWS_ENDPOINT_URL`) on top. A missing region
//! or missing credentials are reported before any call, with how to provide them.

pub mod actions;
pub mod control;
pub mod lifecycle;
pub mod logs;
mod path;

use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::meta::region::RegionProviderChain;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_cloudwatchlogs::config::{Region, retry::RetryConfig};

/// Connection settings from the command line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AwsOptions {
    pub profile: Option<String>,
    pub region: Option<String>,
    pub endpoint_url: Option<String>,
}

/// A loaded configuration: opaque outside this module.
#[derive(Clone)]
pub struct AwsContext {
    config: aws_config::SdkConfig,
    region: String,
    endpoint_override: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "no AWS region configured: pass --region, set AWS_REGION, or set a region in your profile"
    )]
    NoRegion,
    #[error(
        "no AWS credentials found ({0}): set AWS_PROFILE or pass --profile, run `aws sso login`, or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
    )]
    NoCredentials(String),
}

impl AwsContext {
    /// Loads the SDK configuration and checks that a region and credentials are available.
    pub async fn load(options: &AwsOptions) -> Result<AwsContext, ConfigError> {
        let region_chain = RegionProviderChain::first_try(options.region.clone().map(Region::new))
            .or_default_provider();
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(region_chain)
            .retry_config(RetryConfig::standard())
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(10))
                    .operation_attempt_timeout(Duration::from_secs(60))
                    .build(),
            );
        if let Some(profile) = &options.profile {
            loader = loader.profile_name(profile);
        }
        if let Some(url) = &options.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        let config = loader.load().await;
        let region = config
            .region()
            .map(|r| r.to_string())
            .ok_or(ConfigError::NoRegion)?;
        let Some(provider) = config.credentials_provider() else {
            return Err(ConfigError::NoCredentials(
                "no credential provider".to_string(),
            ));
        };
        use aws_credential_types::provider::ProvideCredentials;
        if let Err(e) = provider.provide_credentials().await {
            // The error names the providers tried; it never contains a secret.
            return Err(ConfigError::NoCredentials(e.to_string()));
        }
        let endpoint_override = config.endpoint_url().is_some();
        Ok(AwsContext {
            config,
            region,
            endpoint_override,
        })
    }

    pub fn region(&self) -> &str {
        &self.region
    }

    /// True when requests go to a custom endpoint (a local emulator), not to AWS.
    pub fn endpoint_override(&self) -> bool {
        self.endpoint_override
    }

    pub fn logs(&self) -> logs::LogsClient {
        let mut builder = aws_sdk_cloudwatchlogs::config::Builder::from(&self.config);
        if self.endpoint_override {
            // Live Tail's `stream-` host prefix does not resolve on a local endpoint.
            builder = builder.interceptor(logs::StripHostPrefix);
        }
        logs::LogsClient::new(
            aws_sdk_cloudwatchlogs::Client::from_conf(builder.build()),
            &self.region,
        )
    }
}
