//! The one error answer of every route: a status and one line, as JSON
//! `{"error": "...", "parameter": ...}`. Its own module because the router, the parameter
//! parser, the auth layer and the team routes all answer with it.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use ctm_analytics::AnalyticsError;
use ctm_store::StoreError;
use serde_json::json;

/// An error answer: a status and one line, naming the parameter when one was wrong.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    pub parameter: Option<String>,
}

impl ApiError {
    pub fn param(name: &str, message: String) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            message,
            parameter: Some(name.to_owned()),
        }
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::NOT_FOUND,
            message: message.into(),
            parameter: None,
        }
    }

    pub(crate) fn internal(message: String) -> ApiError {
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message,
            parameter: None,
        }
    }

    pub(crate) fn from_store(e: StoreError) -> ApiError {
        let status = match e {
            // An ingest holding the write lock past the busy timeout: try again.
            StoreError::Busy { .. } => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError {
            status,
            message: e.to_string(),
            parameter: None,
        }
    }
}

impl From<AnalyticsError> for ApiError {
    fn from(e: AnalyticsError) -> ApiError {
        match e {
            AnalyticsError::Store(s) => ApiError::from_store(s),
            AnalyticsError::NotFound(m) => ApiError::not_found(m),
            AnalyticsError::Invalid(m) => ApiError {
                status: StatusCode::BAD_REQUEST,
                message: m,
                parameter: None,
            },
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        ApiError::from_store(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({ "error": self.message, "parameter": self.parameter });
        (self.status, Json(body)).into_response()
    }
}
