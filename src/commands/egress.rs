//! `binderctl egress apply|check|show|verify|schedule`: the user pods'
//! egress NetworkPolicies (ops::egress).

use anyhow::Result;

use super::config;
use crate::cli::{EgressCmd, GlobalArgs, GraceArgs};
use crate::error::Outcome;
use crate::ops::egress::{policies, schedule, verify};

fn grace(args: &GraceArgs) -> policies::Grace {
    policies::Grace {
        grace: args.grace.clone(),
        now: args.now,
    }
}

pub async fn run(global: &GlobalArgs, cmd: &EgressCmd) -> Result<Outcome> {
    let target = config::target(global);
    match cmd {
        EgressCmd::Apply(apply) => {
            let options = policies::ApplyOptions {
                render: config::render_options(&apply.render),
                grace: grace(&apply.grace),
                dry_run: apply.dry_run,
            };
            policies::apply(&target, &options).await
        }
        EgressCmd::Check(check) => {
            let options = policies::CheckOptions {
                render: config::render_options(&check.render),
                grace: grace(&check.grace),
                compare_resolvers: check.compare_resolvers,
            };
            policies::check(&target, &options).await
        }
        EgressCmd::Show(show) => {
            let options = policies::ShowOptions {
                output: config::output_options(&show.output),
                grace: grace(&show.grace),
            };
            policies::show(&target, &options).await
        }
        EgressCmd::Verify(probe) => {
            let options = verify::VerifyOptions {
                input: probe.input.clone(),
                blocked_address: probe.blocked_address,
                host: probe.host.clone(),
                image: probe.image.clone(),
                dry_run: probe.dry_run,
            };
            verify::run(&target, &options).await
        }
        EgressCmd::Schedule(timer) => {
            let options = schedule::ScheduleOptions {
                every: timer.every.clone(),
                remove: timer.remove,
                dry_run: timer.dry_run,
                input: timer.input.clone(),
                grace: timer.grace.clone(),
                nameservers: timer.nameservers.clone(),
                root: timer.root.clone(),
            };
            schedule::run(&target, &options).await
        }
    }
}
