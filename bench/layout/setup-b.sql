-- Variant B: the wrapped DEK and the three blind-index digests as columns of the customer row,
-- each digest with its own index (what the row-layout experiment of issue 16 measures).
DROP TABLE IF EXISTS customers_b;
CREATE TABLE customers_b (LIKE customers INCLUDING DEFAULTS INCLUDING CONSTRAINTS);
ALTER TABLE customers_b ADD PRIMARY KEY (id), ADD UNIQUE (external_ref),
  ADD COLUMN dek_kek_version int NOT NULL, ADD COLUMN dek_wrapped bytea NOT NULL,
  ADD COLUMN email_digest bytea, ADD COLUMN phone_digest bytea, ADD COLUMN national_id_digest bytea,
  ADD COLUMN digest_key_version int NOT NULL DEFAULT 1;
CREATE INDEX customers_b_email ON customers_b (email_digest);
CREATE INDEX customers_b_phone ON customers_b (phone_digest);
CREATE INDEX customers_b_national_id ON customers_b (national_id_digest);
CREATE INDEX customers_b_kek ON customers_b (dek_kek_version);
CREATE INDEX customers_b_retention ON customers_b (closed_at, id) WHERE closed_at IS NOT NULL AND erased_at IS NULL;
DROP TABLE IF EXISTS consent_history_b;
CREATE TABLE consent_history_b (LIKE customer_consent_history INCLUDING DEFAULTS INCLUDING CONSTRAINTS);
ALTER TABLE consent_history_b ADD PRIMARY KEY (id), ADD FOREIGN KEY (customer_id) REFERENCES customers_b (id);
CREATE INDEX consent_history_b_customer ON consent_history_b (customer_id, id);
-- Variant C: layout A's tables without their foreign keys and the DEK trigger (what the checks cost).
DROP TABLE IF EXISTS customers_c, deks_c, blind_c, history_c;
CREATE TABLE customers_c (LIKE customers INCLUDING ALL);
CREATE TABLE deks_c (LIKE customer_deks INCLUDING ALL);
CREATE TABLE blind_c (LIKE customer_blind_indexes INCLUDING ALL);
CREATE TABLE history_c (LIKE customer_consent_history INCLUDING ALL);
-- Variant D: layout A with every check but the blind-index rows' foreign key to blind_index_keys
-- (three shared parent rows that every create locks FOR KEY SHARE).
DROP TABLE IF EXISTS deks_d, blind_d, history_d, customers_d;
CREATE TABLE customers_d (LIKE customers INCLUDING ALL);
CREATE TABLE deks_d (LIKE customer_deks INCLUDING ALL, FOREIGN KEY (customer_id) REFERENCES customers_d (id));
CREATE TRIGGER deks_d_new_under_active_kek AFTER INSERT ON deks_d REFERENCING NEW TABLE AS written FOR EACH STATEMENT EXECUTE FUNCTION customer_deks_new_under_active_kek();
CREATE TABLE blind_d (LIKE customer_blind_indexes INCLUDING ALL, FOREIGN KEY (customer_id) REFERENCES customers_d (id));
CREATE TABLE history_d (LIKE customer_consent_history INCLUDING ALL, FOREIGN KEY (customer_id) REFERENCES customers_d (id));
