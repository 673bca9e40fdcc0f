//! `JoinError`: why a task produced no output.

use super::Id;
use std::any::Any;
use std::fmt;
use std::sync::{Arc, Mutex};

/// Why a task did not produce its output: it was cancelled, or it panicked.
///
/// asyncio raises `CancelledError` or the task's exception when you await a
/// task; magpie's `JoinHandle` returns `Err(JoinError)` instead.
///
/// ```
/// magpie::run(async {
///     let task = magpie::spawn(async { panic!("boom") });
///     let err = task.await.unwrap_err();
///     assert!(err.is_panic());
///     assert_eq!(err.panic_message(), Some("boom"));
///     println!("{err}"); // task 7 panicked: boom
/// });
/// ```
pub struct JoinError {
    id: Id,
    name: Option<Arc<str>>,
    repr: Repr,
}

enum Repr {
    Cancelled,
    Panic {
        /// The panic message, extracted when the panic was caught (the
        /// payload itself is not `Sync`, the message is).
        message: Option<String>,
        /// Behind a mutex only so that `JoinError` is `Sync`; taken by
        /// `into_panic`.
        payload: Mutex<Box<dyn Any + Send + 'static>>,
    },
}

impl JoinError {
    pub(crate) fn cancelled(id: Id, name: Option<Arc<str>>) -> JoinError {
        JoinError {
            id,
            name,
            repr: Repr::Cancelled,
        }
    }

    pub(crate) fn panic(
        id: Id,
        name: Option<Arc<str>>,
        payload: Box<dyn Any + Send + 'static>,
    ) -> JoinError {
        let message = panic_payload_message(&*payload).map(str::to_owned);
        JoinError {
            id,
            name,
            repr: Repr::Panic {
                message,
                payload: Mutex::new(payload),
            },
        }
    }

    /// True if the task was cancelled (by `JoinHandle::cancel`, a task group,
    /// a failed `try_gather`, or runtime shutdown) before it finished.
    ///
    /// ```
    /// magpie::run(async {
    ///     let task = magpie::spawn(std::future::pending::<()>());
    ///     task.cancel();
    ///     assert!(task.await.unwrap_err().is_cancelled());
    /// });
    /// ```
    pub fn is_cancelled(&self) -> bool {
        matches!(self.repr, Repr::Cancelled)
    }

    /// True if the task panicked.
    ///
    /// ```
    /// magpie::run(async {
    ///     let err = magpie::spawn(async { panic!("oops") }).await.unwrap_err();
    ///     assert!(err.is_panic());
    /// });
    /// ```
    pub fn is_panic(&self) -> bool {
        matches!(self.repr, Repr::Panic { .. })
    }

    /// The panic message, if the task panicked with a `&str` or `String`
    /// payload (what `panic!` produces).
    ///
    /// ```
    /// magpie::run(async {
    ///     let err = magpie::spawn(async { panic!("code {}", 7) }).await.unwrap_err();
    ///     assert_eq!(err.panic_message(), Some("code 7"));
    /// });
    /// ```
    pub fn panic_message(&self) -> Option<&str> {
        match &self.repr {
            Repr::Panic { message, .. } => message.as_deref(),
            Repr::Cancelled => None,
        }
    }

    /// The id of the task that failed.
    ///
    /// ```
    /// magpie::run(async {
    ///     let task = magpie::spawn(async { panic!() });
    ///     let id = task.id();
    ///     assert_eq!(task.await.unwrap_err().id(), id);
    /// });
    /// ```
    pub fn id(&self) -> Id {
        self.id
    }

    /// The name of the task that failed, if it was given one.
    ///
    /// ```
    /// magpie::run(async {
    ///     let task = magpie::task::Builder::new().name("fetch").spawn(async { panic!() });
    ///     assert_eq!(task.await.unwrap_err().name(), Some("fetch"));
    /// });
    /// ```
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The panic payload, to resume the panic elsewhere
    /// (`std::panic::resume_unwind`).
    ///
    /// # Panics
    ///
    /// If the task was cancelled rather than panicked; use
    /// [`try_into_panic`](Self::try_into_panic) to check.
    ///
    /// ```
    /// magpie::run(async {
    ///     let err = magpie::spawn(async { panic!("boom") }).await.unwrap_err();
    ///     let payload = err.into_panic();
    ///     assert_eq!(payload.downcast_ref::<&str>(), Some(&"boom"));
    /// });
    /// ```
    #[track_caller]
    pub fn into_panic(self) -> Box<dyn Any + Send + 'static> {
        self.try_into_panic()
            .unwrap_or_else(|err| panic!("`JoinError::into_panic` called on a cancellation: {err}"))
    }

    /// The panic payload, or the error back if the task was cancelled.
    ///
    /// ```
    /// magpie::run(async {
    ///     let task = magpie::spawn(std::future::pending::<()>());
    ///     task.cancel();
    ///     let err = task.await.unwrap_err();
    ///     assert!(err.try_into_panic().is_err());
    /// });
    /// ```
    pub fn try_into_panic(self) -> Result<Box<dyn Any + Send + 'static>, JoinError> {
        match self.repr {
            Repr::Panic { payload, .. } => Ok(payload
                .into_inner()
                .unwrap_or_else(|poisoned| poisoned.into_inner())),
            Repr::Cancelled => Err(self),
        }
    }

    fn fmt_task(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "task {}", self.id)?;
        if let Some(name) = &self.name {
            write!(f, " ({name:?})")?;
        }
        Ok(())
    }
}

/// The message of a panic payload, when it is a string.
pub(crate) fn panic_payload_message(payload: &(dyn Any + Send)) -> Option<&str> {
    payload
        .downcast_ref::<&'static str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.fmt_task(f)?;
        match &self.repr {
            Repr::Cancelled => f.write_str(" was cancelled"),
            Repr::Panic {
                message: Some(message),
                ..
            } => write!(f, " panicked: {message}"),
            Repr::Panic { message: None, .. } => f.write_str(" panicked (non-string payload)"),
        }
    }
}

impl fmt::Debug for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("JoinError");
        d.field("id", &self.id).field("name", &self.name);
        match &self.repr {
            Repr::Cancelled => d.field("kind", &"Cancelled"),
            Repr::Panic { message, .. } => d.field("kind", &"Panic").field("message", message),
        };
        d.finish()
    }
}

impl std::error::Error for JoinError {}

impl From<JoinError> for std::io::Error {
    fn from(err: JoinError) -> std::io::Error {
        std::io::Error::other(err)
    }
}
