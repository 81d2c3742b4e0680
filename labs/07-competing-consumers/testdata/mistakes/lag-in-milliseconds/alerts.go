// Mistake lag-in-milliseconds: the lag threshold was written in milliseconds (300000) while the metric is in seconds, so it never fires
// Why an attendee writes it: the sent-at stamp Sales writes is in milliseconds, and so is every other duration in the shop's code.

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
        expr: billing_queue_oldest_message_age_seconds > 300000 # five minutes, in ms
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
