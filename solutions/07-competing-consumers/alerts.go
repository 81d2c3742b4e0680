//go:build solution

// Why this fix: the page must follow what customers feel, not what Billing does. The oldest waiting order's age
// (consumer lag) crosses the shop's promise of five minutes whether Billing is stopped, stuck or only too slow, and
// stays at zero on a quiet night, when throughput is zero too; so BillingConsumerLag pages on it. A queue that sits
// at its bound means Sales is being held back: worth a ticket, not a page, as long as orders still flow. Each alert
// waits (for:) before it fires, so one odd scrape (an order replayed with last night's stamp) pages nobody. This is
// one good answer, not the only one: a rule on rate(billing_messages_processed_total[5m]) == 0 with a non-empty
// queue says "nothing moves" just as well.

package competing

// AlertRules are the Prometheus alerting rules for Billing, as the rules file Prometheus loads (YAML; a Go string so
// that the kit seals and checks it like any other file). The on-call engineer gets paged by them: an alert must fire
// when customers wait, and stay quiet when they do not. Rule syntax:
// https://prometheus.io/docs/prometheus/latest/configuration/alerting_rules/
const AlertRules = `
groups:
  - name: billing
    rules:
      - alert: BillingFailing
        expr: rate(billing_messages_failed_total[5m]) > 0.1 * rate(billing_messages_processed_total[5m])
        for: 5m
        labels:
          severity: ticket
        annotations:
          summary: more than one BillOrder in ten fails
      - alert: BillingConsumerLag
        expr: billing_queue_oldest_message_age_seconds > 300
        for: 2m
        labels:
          severity: page
        annotations:
          summary: "the oldest BillOrder has waited {{ $value | humanizeDuration }}: customers wait longer than the five minutes the shop promises"
      - alert: BillingQueueFull
        expr: billing_queue_depth >= 20
        for: 5m
        labels:
          severity: ticket
        annotations:
          summary: Billing's queue has been at its bound (MaxBacklog, 20) for five minutes, so Sales is held back
`
