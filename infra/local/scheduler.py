"""EventBridge Scheduler, locally: moto stores schedules but never fires
them. Every second this lists the schedules in GROUP (the posts' group, as
template.yaml deploys it) and, for each one-time `at(...)` schedule whose
time has come, sends its target's Input to its target queue, then deletes
the schedule when its ActionAfterCompletion is DELETE, as in AWS. Each
schedule fires once per time it is set to; a send that fails is tried again
the next second.

    python infra/local/scheduler.py GROUP
"""

import datetime
import re
import sys
import time
import zoneinfo

import boto3

AT = re.compile(r"^at\((\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\)$")


def main() -> None:
    group = sys.argv[1]
    scheduler = boto3.session.Session().client("scheduler")
    sqs = boto3.session.Session().client("sqs")
    fired: set[tuple[str, str]] = set()
    while True:
        for summary in list_schedules(scheduler, group):
            try:
                schedule = scheduler.get_schedule(GroupName=group, Name=summary["Name"])
            except scheduler.exceptions.ResourceNotFoundException:
                continue  # deleted since the listing
            if (schedule["Name"], schedule["ScheduleExpression"]) in fired or not due(schedule):
                continue
            target = schedule["Target"]
            try:
                send(sqs, target["Arn"], target.get("Input", "{}"))
            except Exception as error:  # the queue is missing, or moto is busy
                print(f"{schedule['Name']}: sending to {target['Arn']} failed: {error}", flush=True)
                continue
            fired.add((schedule["Name"], schedule["ScheduleExpression"]))
            print(f"{schedule['Name']} fired: {target.get('Input')}", flush=True)
            if schedule.get("ActionAfterCompletion") == "DELETE":
                try:
                    scheduler.delete_schedule(GroupName=group, Name=schedule["Name"])
                except scheduler.exceptions.ResourceNotFoundException:
                    pass
        time.sleep(1)


def list_schedules(scheduler, group: str) -> list[dict]:
    try:
        pages = scheduler.get_paginator("list_schedules").paginate(GroupName=group)
        return [s for page in pages for s in page["Schedules"]]
    except Exception as error:  # moto restarted, or the group is gone
        print(f"listing {group} failed: {error}", flush=True)
        return []


def due(schedule: dict) -> bool:
    """An enabled one-time schedule whose time, in its time zone, has come."""
    at = AT.match(schedule["ScheduleExpression"])
    if schedule.get("State", "ENABLED") != "ENABLED" or not at:
        return False
    zone = zoneinfo.ZoneInfo(schedule.get("ScheduleExpressionTimezone") or "UTC")
    when = datetime.datetime.fromisoformat(at.group(1)).replace(tzinfo=zone)
    return when <= datetime.datetime.now(datetime.timezone.utc)


def send(sqs, queue_arn: str, body: str) -> None:
    account, name = queue_arn.split(":")[4:6]
    url = sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody=body)


if __name__ == "__main__":
    main()
