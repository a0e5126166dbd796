"""Planning the dispatcher's pass: which queued jobs start where, now. The scheduler's middle part.

`Scheduler` (scheduler.py) takes jobs in and runs the dispatcher thread; each pass of that thread
calls `_plan_locked` here, under the scheduler's lock: the queue ordered longest job first, each job
routed against every instance's slot board (dispatch.py: its slots, what runs there and for how long,
its rate limit), and a job whose best place is free now bound to it (`_bind_locked`: the JobRouted
event, the journal note, its worker submitted). Once bound, a job runs and ends in outcomes.py. The
state these share is the scheduler's; JobOutcomes declares most of it, and the rest is below.
"""

from __future__ import annotations

import queue
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor

from ..routing.candidates import Exclusion
from ..routing.health import BreakerState
from ..routing.policy import RoutingPolicy
from ..routing.registry import InstanceView
from ..routing.router import Decision
from ..shots import ShotSpec
from .attempts import JobState, no_route_failure, route_with_step_down
from .costs import known_costs
from .dispatch import SlotBoard, longest_first, plan_dispatch
from .events import CandidateNote, JobCancelled, JobEvent, JobFailed, JobRouted
from .journal import Journal
from .limits import RateLimiter
from .outcomes import JobOutcomes, _Running
from .reattach import note
from .records import log_record
from .retries import distinct

IDLE_RECHECK = 1.0  # seconds: waiting jobs are re-planned at least this often (cooldowns end, quotas lapse)


class DispatchPlanning(JobOutcomes):
    """Routing and binding queued jobs; mixed into `Scheduler`, which owns the state."""

    events: queue.Queue[JobEvent]
    policy: RoutingPolicy
    _limits: dict[str, RateLimiter]
    _pools: dict[str, ThreadPoolExecutor]

    def _plan_locked(self) -> tuple[float | None, list[tuple[JobState, dict]]]:
        if not self._pending:
            return None, []
        now = self._clock()
        views = self._views()
        boards = {view.instance_id: self._board(view, now) for view in views}
        wake = [IDLE_RECHECK]
        records: list[tuple[JobState, dict]] = []
        order = longest_first(self._pending, lambda job: job.expected_seconds, lambda job: bool(job.attempts))
        for placement in plan_dispatch(order, boards, lambda job, waits: self._route_job(job, views, waits)):
            job, decision = placement.job, placement.decision
            if decision.chosen is None:
                if decision.retry_in is not None:
                    wake.append(decision.retry_in)
                    continue
                self._pending.remove(job)
                kind, message, hint = no_route_failure(job, decision)
                self._finish_locked(job, JobFailed(job.job_id, job.spec.shot_id, kind, message, hint, **job.timings))
                records.append((job, log_record(job, decision, "no_route", message)))
                continue
            if not placement.start_now:
                continue  # its best place is busy: it waits there, reserved, and later jobs see it
            if self._waits_for_price(job, decision):
                continue  # under a budget, one job at a time finds out what an unpriced model costs
            iid = decision.chosen.instance_id
            # Half-open: exactly one job tests the instance, the others wait for its verdict. Open
            # (cooling down) and chosen anyway because nothing else fits: tried as before, unclaimed.
            probe = self.router.health.state(iid) is BreakerState.HALF_OPEN
            if (probe or not decision.chosen_resting) and not self.router.health.claim_probe(iid):
                continue
            records.append((job, self._bind_locked(job, decision, now, probe)))
        for board in boards.values():
            if board.starts_allowed <= 0 and board.rate_wait > 0:
                wake.append(board.rate_wait)
        return max(0.01, min(wake)), records

    def _bind_locked(self, job: JobState, decision: Decision, now: float, probe: bool, queued: bool = True) -> dict:
        candidate, scored = decision.ranked[0], decision.scores[0]
        iid = candidate.instance_id
        if queued:
            self._pending.remove(job)
        job.dispatches += 1
        explanation = decision.explanation
        if job.attempts:
            explanation = f"Fell back after {distinct(job.attempts)}. {explanation}"
        adjustments = "; ".join(job.adjustments)
        if adjustments:  # in the sentence too, so a panel that shows only the explanation still says it
            explanation += f" Settings changed: {adjustments}."
        running = _Running(job, candidate, decision, explanation, now, scored.run_seconds, probe)
        self._running[iid][job.job_id] = running
        self._limits[iid].record(now)
        routed = JobRouted(
            job.job_id,
            job.spec.shot_id,
            candidate.backend.display_name,
            candidate.offer.name,
            explanation,
            attempt=job.dispatches,
            adjustments=adjustments,
            instance_id=iid,
            expected_seconds=scored.expected_seconds,
            candidates=tuple(CandidateNote(v.candidate.label, v.accepted, v.reason) for v in decision.verdicts),
        )
        self._emit(routed)
        if job.resume_server_job:  # the row keeps the server job it follows
            note(job, routed, kind=candidate.instance.kind, model=candidate.offer.model)
            if job.journal is not None:
                job.journal.update(job.job_id, server_job_id=job.resume_server_job, state="accepted")
        else:
            entry = self.registry.get(iid)
            server_url = entry.config.url if entry is not None else ""
            note(job, routed, kind=candidate.instance.kind, model=candidate.offer.model, server_url=server_url)
        try:
            self._pools[iid].submit(self._run, running)
        except RuntimeError:  # pool shut down between planning and binding
            del self._running[iid][job.job_id]
            self._finish_locked(job, JobCancelled(job.job_id, job.spec.shot_id, "Shotcaller was shut down"))
        return log_record(job, decision, "routed", explanation)

    # -- routing helpers (under the lock) -----------------------------------

    def _waits_for_price(self, job: JobState, decision: Decision) -> bool:
        chosen = decision.chosen
        if job.journal is None or job.policy.budget <= 0 or chosen is None:
            return False
        view = chosen.instance
        if view.cost_per_second or view.cost_per_shot or job.journal.last_price(view.kind, chosen.offer.name):
            return False
        return any(
            r.job.journal is job.journal
            and r.candidate.instance.kind == view.kind
            and r.candidate.offer.name == chosen.offer.name
            for running in self._running.values()
            for r in running.values()
        )

    def _views(self) -> list[InstanceView]:
        return self.registry.views({iid: len(running) for iid, running in self._running.items()})

    def _board(self, view: InstanceView, now: float) -> SlotBoard:
        busy = [
            max(r.expected_seconds - (now - r.started), 0.1 * r.expected_seconds, 0.5)
            for r in self._running.get(view.instance_id, {}).values()
        ]
        limiter = self._limits.get(view.instance_id)
        if limiter is None:
            return SlotBoard.of(view.slots, busy)
        return SlotBoard.of(view.slots, busy, limiter.allowed_now(now), limiter.wait_after_quota(now))

    def _waits(self, now: float) -> dict[str, float]:
        return {view.instance_id: self._board(view, now).wait() for view in self._views()}

    def _budget_left(self, policy: RoutingPolicy, journal: Journal | None = None) -> float | None:
        if policy.budget <= 0:
            return None
        if journal is not None:  # the project's own spending, every session's, as the services reported it
            committed = sum(
                r.decision.scores[0].cost
                for rs in self._running.values()
                for r in rs.values()
                if r.job.journal is journal
            )
            return policy.budget - journal.total_spent() - committed
        committed = sum(r.decision.scores[0].cost for running in self._running.values() for r in running.values())
        return policy.budget - policy.already_spent - self.spent - committed

    def _route(
        self,
        spec: ShotSpec,
        policy: RoutingPolicy,
        views: list[InstanceView],
        waits: Mapping[str, float],
        excluded: Mapping[tuple[str, str], Exclusion],
        journal: Journal | None = None,
    ) -> Decision:
        priced = journal is not None and policy.budget > 0  # learned prices matter only against a budget
        return self.router.route(
            spec,
            views,
            policy=policy,
            waits=waits,
            excluded=excluded,
            budget_left=self._budget_left(policy, journal),
            now=self._clock(),
            budget_spent=journal.total_spent() if priced and journal is not None else None,
            known_costs=known_costs(journal, spec, views) if priced and journal is not None else None,
        )

    def _route_job(self, job: JobState, views: list[InstanceView], waits: Mapping[str, float]) -> Decision:
        return route_with_step_down(
            job, lambda spec: self._route(spec, job.policy, views, waits, job.excluded, job.journal)
        )
