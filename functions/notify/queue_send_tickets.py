"""SQS consumer of paid-order messages: each record's tickets are rendered, stored and emailed on their own, and a
record that fails (SendGrid, S3, a delivery already in progress) is reported in batchItemFailures for SQS to retry
while the others are done. Waiting-list offers travel the same queue (waiting_list_offer_email). After five receives
SQS moves a record to the dead-letter queue (template.yaml)."""

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from paid_order_delivery import PaidOrderMessage, deliver_paid_order
from waiting_list_offer_email import OfferMessage, deliver_offer

logger = Logger()
# A batch in which every record failed is reported record by record too, never as one exception: the answer is
# the same for SQS, and each record keeps its own receive count.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


def record_handler(record: SQSRecord) -> str:
    if record.json_body.get("kind") == "waiting_list_offer":
        offer = OfferMessage.model_validate(record.json_body)
        logger.append_keys(message_id=str(offer.message_id), waiting_list_entry_id=str(offer.entry_id))
        offered = deliver_offer(offer)
        logger.info("waiting-list offer message handled", extra={"result": offered})
        return offered
    message = PaidOrderMessage.model_validate_json(record.body)
    logger.append_keys(message_id=str(message.message_id), order_id=str(message.order_id))
    result = deliver_paid_order(message)
    logger.info("paid-order message handled", extra={"result": result})
    return result


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
