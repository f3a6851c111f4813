//! The container pipeline (see README.md, *How it boots* and *Containers and
//! pipeline*), in the original boot2container's order and with its console
//! sections: volumes, `pipeline_start` transfers, services, `b2c.run`
//! containers in order, `b2c.run_post` containers always, `pipeline_end`
//! transfers; then, once the status is printed, the clean-up. How each
//! container is run (podman, its retries) is [`crate::podman`]'s job.

use std::time::Duration;

use tracing::{error, info, warn};

use crate::cmdline::{Config, ContainerSpec};
use crate::console::{hooks_header, Section, Step};
use crate::hook;
use crate::podman::{Podman, PODMAN_ERROR, PRUNE_LIMIT};
use crate::power::ShutdownMode;
use crate::volumes::{HookPoint, Volumes};

/// Exit code of a container that asked for a reboot (SIGHUP from reboot(2)).
pub const EXIT_REBOOT: i32 = 129;
/// Exit code of a container that asked for a power-off (SIGINT from reboot(2)).
pub const EXIT_POWEROFF: i32 = 130;
/// How long `podman run --detach` of a service may take (its pull included).
const SERVICE_START_LIMIT: Duration = Duration::from_secs(3600);
/// How long `podman rm --all` may take.
const REMOVE_LIMIT: Duration = Duration::from_secs(120);

/// What the pipeline did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// `Execution is over, pipeline status: N`.
    pub status: i32,
    /// What failed first (empty when nothing did).
    pub failed_by: String,
    /// `default` until a container asks for a power-off or a reboot.
    pub mode: ShutdownMode,
}

/// The `B2C_PIPELINE_FAILED_BY` of a failed `pipeline_start` transfer.
pub const FAILED_BY_PIPELINE_START: &str = "Pipeline-start hooks";
/// The `B2C_PIPELINE_FAILED_BY` of a failed `pipeline_end` transfer.
pub const FAILED_BY_PIPELINE_END: &str = "Pipeline-end hooks";
/// The `B2C_PIPELINE_FAILED_BY` of a failed volume set-up.
pub const FAILED_BY_VOLUME_SETUP: &str = "Volume setup";

/// The shutdown mode a container's exit code asks for: 129 is the SIGHUP
/// the kernel sends a container's PID 1 when it calls reboot(2) to reboot,
/// 130 the SIGINT of a power-off. As in the original, these codes are
/// failures like any other; they only set the shutdown mode.
pub fn requested_mode(code: i32) -> Option<ShutdownMode> {
    match code {
        EXIT_REBOOT => Some(ShutdownMode::Reboot),
        EXIT_POWEROFF => Some(ShutdownMode::Poweroff),
        _ => None,
    }
}

/// The console line after a `b2c.run` container (README.md, *How it boots*).
pub fn result_line(code: i32, aborting: bool) -> String {
    if code == 0 {
        "The container run successfully, load the next one!".to_string()
    } else if aborting {
        format!("The container exited with error code {code}, aborting the pipeline...")
    } else {
        format!("The container exited with error code {code}, continuing...")
    }
}

/// The pipeline's running state.
struct Runner<'a> {
    config: &'a Config,
    podman: Podman,
    volumes: Volumes,
    status: i32,
    failed_by: String,
    prev_container: String,
    prev_exit: Option<i32>,
    mode: ShutdownMode,
}

/// What is left to do once the status is known: stop and remove the
/// containers, prune the dangling images, tear the volumes down.
pub struct Cleanup {
    podman: Podman,
    volumes: Volumes,
    /// Services may still run.
    services: bool,
    /// Podman's store outlives this boot (a cache device).
    persistent: bool,
}

/// Runs the whole pipeline, in the original's order: volumes, the
/// `pipeline_start` transfers, services, the `b2c.run` containers, the
/// `b2c.run_post` containers, the `pipeline_end` transfers. Runs nothing
/// (status 0, no clean-up) when there is no `b2c.run` nor `b2c.run_post`.
/// `persistent`: podman's store is on a cache device, so clean-up must leave
/// it tidy for the next boot.
pub async fn run(
    config: &Config,
    timeline: &mut crate::timeline::Timeline,
    persistent: bool,
) -> (Outcome, Option<Cleanup>) {
    let mut runner = Runner::new(config, Podman::new(config));
    if config.run.is_empty() && config.run_post.is_empty() {
        info!("No b2c.run nor b2c.run_post container given: nothing to run");
        return (runner.outcome(), None);
    }
    {
        let _section = Section::step(Step::StartPipeline);
        info!("Run the containers");
        let (volumes, setup) = Volumes::setup(config, persistent, &runner.podman).await;
        runner.volumes = volumes;
        if let Err(e) = setup {
            error!("{e}");
            error!("The volume set-up failed: no container runs");
            runner.fail(1, FAILED_BY_VOLUME_SETUP);
        }
    }
    if runner.status == 0 {
        if runner
            .hooks(HookPoint::PipelineStart, "no container runs")
            .await
        {
            runner.run_containers(timeline).await;
        } else {
            runner.fail(1, FAILED_BY_PIPELINE_START);
        }
        // The results of a job that failed matter most: pushed whatever
        // happened before.
        if !runner
            .hooks(HookPoint::PipelineEnd, "the pipeline fails")
            .await
        {
            runner.fail(1, FAILED_BY_PIPELINE_END);
        }
    }
    let cleanup = Cleanup {
        podman: runner.podman.clone(),
        volumes: std::mem::take(&mut runner.volumes),
        services: !config.run_service.is_empty(),
        persistent,
    };
    (runner.outcome(), Some(cleanup))
}

impl<'a> Runner<'a> {
    /// A pipeline that has not run anything yet.
    fn new(config: &'a Config, podman: Podman) -> Runner<'a> {
        Runner {
            config,
            podman,
            volumes: Volumes::default(),
            status: 0,
            failed_by: String::new(),
            prev_container: String::new(),
            prev_exit: None,
            mode: ShutdownMode::Default,
        }
    }

    /// Services, then `b2c.run` in order, then `b2c.run_post`.
    async fn run_containers(&mut self, timeline: &mut crate::timeline::Timeline) {
        info!("Start the background services");
        self.start_services().await;
        info!("Start the containers pipeline");
        let mut first = true;
        for spec in &self.config.run {
            if self.config.pipefail && self.status != 0 {
                info!(
                    "Skipping {} (b2c.pipefail and the pipeline failed)",
                    spec.source
                );
                continue;
            }
            if first {
                timeline.mark("podman_start");
                first = false;
            }
            let code = self.start_container(spec).await;
            if code == 0 {
                info!("{}", result_line(0, false));
            } else {
                self.fail(code, &spec.source);
                info!("{}", result_line(code, self.config.pipefail));
            }
        }
        timeline.mark("run_end");
        if !self.config.run_post.is_empty() {
            info!("Running the post containers");
        }
        for spec in &self.config.run_post {
            // Their failures do not change the status.
            let code = self.start_container(spec).await;
            if code != 0 {
                info!("The post container exited with error code {code}");
            }
        }
    }

    /// Records a failure, unless an earlier one is already the status.
    fn fail(&mut self, code: i32, by: &str) {
        if self.status == 0 {
            self.status = code;
            self.failed_by = by.to_string();
        }
    }

    fn outcome(&self) -> Outcome {
        Outcome {
            status: self.status,
            failed_by: self.failed_by.clone(),
            mode: self.mode,
        }
    }

    /// The `B2C_PIPELINE_*` variables for the next container.
    fn environment(&self) -> Vec<(String, String)> {
        vec![
            ("B2C_PIPELINE_STATUS".into(), self.status.to_string()),
            ("B2C_PIPELINE_FAILED_BY".into(), self.failed_by.clone()),
            (
                "B2C_PIPELINE_PREV_CONTAINER".into(),
                self.prev_container.clone(),
            ),
            (
                "B2C_PIPELINE_PREV_CONTAINER_EXIT_CODE".into(),
                self.prev_exit.map(|c| c.to_string()).unwrap_or_default(),
            ),
            (
                "B2C_PIPELINE_SHUTDOWN_MODE".into(),
                self.mode.as_str().into(),
            ),
        ]
    }

    /// The volume transfers of `point`, in an `execute_hooks` section.
    /// False when one failed: each failure was printed by the volumes as it
    /// came, then one line says which and what follows (`consequence`).
    async fn hooks(&mut self, point: HookPoint, consequence: &str) -> bool {
        let _section = Section::step_with(Step::ExecuteHooks, &hooks_header(point.as_str()));
        match self.volumes.run_hooks(point).await {
            Ok(()) => true,
            Err(e) => {
                error!("{e}: {consequence}");
                false
            }
        }
    }

    /// Starts every service container, detached, in order. One that does
    /// not start is a failure of the pipeline (status, FAILED_BY naming it):
    /// the job would run without what it relies on.
    async fn start_services(&mut self) {
        for spec in &self.config.run_service {
            let _section = Section::step(Step::StartServiceContainer);
            info!("Service container: {}", spec.source);
            match self
                .podman
                .start_detached(spec, &self.environment(), SERVICE_START_LIMIT)
                .await
            {
                Ok(id) => info!("The service container {id} started"),
                Err(e) => {
                    error!("The service container {} did not start: {e}", spec.source);
                    self.fail(PODMAN_ERROR, &spec.source);
                }
            }
        }
    }

    /// One pipeline container, as the original's `start_container`: the
    /// `container_start` transfers, then pull, create and run attached to
    /// the console (see [`Podman::run_attached`]), then the `container_end`
    /// transfers. Returns its exit code; a failed transfer makes it count as
    /// failed (1 when the container itself succeeded).
    async fn start_container(&mut self, spec: &ContainerSpec) -> i32 {
        let not_run = format!("{} does not run", spec.source);
        if !self.hooks(HookPoint::ContainerStart, &not_run).await {
            return 1;
        }
        let mut section = Section::step(Step::CreateContainer);
        let mut code = self.podman.run_attached(spec, &self.environment()).await;
        if hook::container_started() {
            // The OCI hook closed create_container and opened container_run.
            section.handed_over(Step::ContainerRun);
        }
        section.end();
        {
            let _section = Section::step(Step::PostContainer);
            self.prev_container = spec.source.clone();
            self.prev_exit = Some(code);
            if let Some(mode) = requested_mode(code) {
                info!(
                    "The container asked for a {} (exit code {code})",
                    mode.as_str()
                );
                self.mode = mode;
            }
        }
        let failed = format!("{} counts as failed", spec.source);
        if !self.hooks(HookPoint::ContainerEnd, &failed).await && code == 0 {
            code = 1;
        }
        code
    }
}

impl Cleanup {
    /// The `cleanup` section: stop and remove every container, prune the
    /// dangling images (with a cache), unmount and delete the volumes.
    pub async fn run(mut self) {
        let _section = Section::step(Step::Cleanup);
        if self.services || self.persistent {
            let rm = ["rm", "--all", "--force", "--time", "10"];
            match self.podman.run(&rm, REMOVE_LIMIT).await {
                Ok(out) => info!("Stopped and removed {} container(s)", out.count_lines()),
                Err(e) => warn!("{e}"),
            }
        }
        // Every pipeline container has ended and, without a cache, the store
        // lives in RAM: nothing else is worth a podman process.
        if self.persistent {
            // Dangling images only: the tagged ones are the cache's point.
            let prune = ["image", "prune", "--force"];
            match self.podman.run(&prune, PRUNE_LIMIT).await {
                Ok(out) => info!("Pruned {} dangling image(s)", out.count_lines()),
                Err(e) => warn!("{e}"),
            }
        }
        self.volumes.teardown(&self.podman).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_129_and_130_ask_for_a_shutdown_mode() {
        assert_eq!(requested_mode(0), None);
        assert_eq!(requested_mode(3), None);
        assert_eq!(requested_mode(125), None);
        assert_eq!(requested_mode(129), Some(ShutdownMode::Reboot));
        assert_eq!(requested_mode(130), Some(ShutdownMode::Poweroff));
    }

    #[test]
    fn result_lines_are_the_contract() {
        assert_eq!(
            result_line(0, false),
            "The container run successfully, load the next one!"
        );
        assert_eq!(
            result_line(3, false),
            "The container exited with error code 3, continuing..."
        );
        assert_eq!(
            result_line(129, true),
            "The container exited with error code 129, aborting the pipeline..."
        );
    }

    fn runner(config: &Config) -> Runner<'_> {
        Runner::new(config, Podman::default())
    }

    #[test]
    fn environment_of_the_first_container() {
        let config = Config::default();
        let env = runner(&config).environment();
        let names: Vec<&str> = env.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "B2C_PIPELINE_STATUS",
                "B2C_PIPELINE_FAILED_BY",
                "B2C_PIPELINE_PREV_CONTAINER",
                "B2C_PIPELINE_PREV_CONTAINER_EXIT_CODE",
                "B2C_PIPELINE_SHUTDOWN_MODE"
            ]
        );
        assert_eq!(env[0].1, "0");
        assert_eq!(env[4].1, "default");
    }

    #[test]
    fn only_the_first_failure_is_the_status() {
        let config = Config::default();
        let mut r = runner(&config);
        r.fail(129, "first");
        r.fail(3, "second");
        assert_eq!((r.status, r.failed_by.as_str()), (129, "first"));
    }
}
