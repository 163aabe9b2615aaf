"""Lambda's SQS event source mapping, locally: long-polls a queue on moto
(the publish queue, or the refresh queue) and hands each message to its
function under `cargo lambda watch` as an SQS event (batch size 1, as
template.yaml sets), up to CONCURRENCY at once (the mapping's
MaximumConcurrency). Messages the function reports as failed stay on the
queue and come back after their visibility timeout, then go to the
dead-letter queue, as in AWS.

    python infra/local/sqs_pump.py QUEUE_URL INVOKE_URL [CONCURRENCY]
"""

import json
import sys
import threading
import time
import urllib.request

import boto3


def main() -> None:
    queue_url, invoke_url = sys.argv[1], sys.argv[2]
    concurrency = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    pollers = [
        threading.Thread(target=poll, args=(queue_url, invoke_url), daemon=True)
        for _ in range(concurrency)
    ]
    for poller in pollers:
        poller.start()
    for poller in pollers:
        poller.join()


def poll(queue_url: str, invoke_url: str) -> None:
    sqs = boto3.session.Session().client("sqs")
    function = invoke_url.rstrip("/").split("/")[-2]
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    while True:
        messages = sqs.receive_message(
            # Short polls: the emulator serves one request at a time, and a
            # long poll would hold every other caller behind it.
            QueueUrl=queue_url, MaxNumberOfMessages=1, WaitTimeSeconds=0,
            AttributeNames=["All"],
        ).get("Messages", [])
        for m in messages:
            event = {"Records": [{
                "messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"], "attributes": m.get("Attributes", {}),
                "messageAttributes": {}, "md5OfBody": m.get("MD5OfBody", ""),
                "eventSource": "aws:sqs", "eventSourceARN": arn, "awsRegion": "us-east-1",
            }]}
            request = urllib.request.Request(
                invoke_url, data=json.dumps(event).encode(),
                headers={"content-type": "application/json"}, method="POST",
            )
            try:
                with urllib.request.urlopen(request, timeout=960) as answer:
                    result = json.loads(answer.read() or b"{}")
            except Exception as error:  # the function crashed or timed out
                print(f"{function} failed on {m['MessageId']}: {error}", flush=True)
                continue
            failed = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
            if m["MessageId"] in failed:
                print(f"{function} reported {m['MessageId']} failed; it will come back", flush=True)
                continue
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])
            print(f"{function} handled {m['MessageId']}", flush=True)
        if not messages:
            time.sleep(0.5)


if __name__ == "__main__":
    main()
