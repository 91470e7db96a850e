-- A complaint about a 办件 that named no service item is about the 办件's item: statistics by
-- service item counted such complaints under 未指定. New complaints get it at intake.
UPDATE complaints SET service_item_id = (SELECT t.service_item_id FROM transactions t WHERE t.id = complaints.transaction_id)
WHERE service_item_id IS NULL AND transaction_id IS NOT NULL;
