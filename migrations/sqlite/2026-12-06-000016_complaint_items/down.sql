-- Data only: which complaints got their item here is not recorded, so nothing is undone.
SELECT 1;
