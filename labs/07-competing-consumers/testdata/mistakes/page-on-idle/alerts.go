// Mistake page-on-idle: BillingConsumerLag pages when Billing processes nothing, which is also what a quiet night looks like
// Why an attendee writes it: a stopped Billing processes nothing, and the processed counter is the metric that was there from the start.

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
        expr: rate(billing_messages_processed_total[5m]) == 0 # Billing processes nothing
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
