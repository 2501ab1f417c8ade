//! Running one piece of work on many nodes: a few nodes at once, results in
//! the nodes' order, and the one summary of what failed where.

use std::future::Future;
use std::sync::Arc;

use anyhow::{bail, Result};

use crate::cluster::node_helper::PARALLELISM;
use crate::error::{Interrupted, Outcome};
use crate::output::{self, plural};

/// Run `work` for each node, at most [`PARALLELISM`] at once; the results
/// in the nodes' order.
pub async fn for_each_node<T, F, Fut>(nodes: &[String], work: F) -> Vec<(String, Result<T>)>
where
    T: Send + 'static,
    F: Fn(usize, String) -> Fut,
    Fut: Future<Output = Result<T>> + Send + 'static,
{
    let permits = Arc::new(tokio::sync::Semaphore::new(PARALLELISM));
    let mut tasks = tokio::task::JoinSet::new();
    for (index, node) in nodes.iter().enumerate() {
        let job = work(index, node.clone());
        let permits = permits.clone();
        tasks.spawn(async move {
            let _permit = permits.acquire_owned().await;
            (index, job.await)
        });
    }
    let mut results: Vec<Option<Result<T>>> = nodes.iter().map(|_| None).collect();
    while let Some(joined) = tasks.join_next().await {
        if let Ok((index, result)) = joined {
            results[index] = Some(result);
        }
    }
    nodes
        .iter()
        .cloned()
        .zip(results)
        .map(|(node, result)| {
            let result = result.unwrap_or_else(|| Err(anyhow::anyhow!("the work stopped early")));
            (node, result)
        })
        .collect()
}

/// A tool's message on one line, for an error that names the node.
pub fn one_line(text: &str) -> String {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    if lines.is_empty() {
        "no message".to_string()
    } else {
        lines.join(" / ")
    }
}

/// The end of the pods' output, for an error message.
pub fn last_lines(logs: &[(String, String)]) -> String {
    let text: Vec<&str> = logs.iter().flat_map(|(_, t)| t.lines()).collect();
    let tail = &text[text.len().saturating_sub(5)..];
    if tail.is_empty() {
        "no output".to_string()
    } else {
        tail.join(" / ")
    }
}

/// Report the nodes that failed; an error naming them when any did.
pub fn finish(failed: &[(String, anyhow::Error)], total: usize) -> Result<Outcome> {
    if failed.is_empty() {
        return Ok(Outcome::Success);
    }
    for (_, err) in failed {
        if err.downcast_ref::<Interrupted>().is_some() {
            return Err(Interrupted.into());
        }
        output::error(&format!("{err:#}"));
    }
    let names: Vec<&str> = failed.iter().map(|(n, _)| n.as_str()).collect();
    let others = if failed.len() < total {
        "; the others are done"
    } else {
        ""
    };
    bail!(
        "{} of {total} failed: {}{others}. Run the same command again for them once the \
         cause above is fixed: it first removes any helper pod left behind",
        plural(failed.len(), "node", "nodes"),
        names.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn nodes_run_at_most_four_at_once_and_keep_their_order() {
        let running = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let peak = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let nodes: Vec<String> = (0..9).map(|i| format!("n{i}")).collect();
        let results = for_each_node(&nodes, |index, node| {
            let (running, peak) = (running.clone(), peak.clone());
            async move {
                use std::sync::atomic::Ordering::SeqCst;
                let now = running.fetch_add(1, SeqCst) + 1;
                peak.fetch_max(now, SeqCst);
                tokio::time::sleep(Duration::from_millis(20)).await;
                running.fetch_sub(1, SeqCst);
                if index == 3 {
                    bail!("{node} broke");
                }
                Ok(index)
            }
        })
        .await;
        assert_eq!(peak.load(std::sync::atomic::Ordering::SeqCst), PARALLELISM);
        let names: Vec<&str> = results.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, nodes.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(results[3].1.is_err());
        assert_eq!(*results[8].1.as_ref().unwrap(), 8);
    }
}
