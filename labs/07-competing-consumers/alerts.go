package competing

// AlertRules are the Prometheus alerting rules for Billing, as the rules file Prometheus loads (YAML; a Go string so
// that the kit seals and checks it like any other file). The on-call engineer gets paged by them: an alert must fire
// when customers wait, and stay quiet when they do not. Rule syntax:
// https://prometheus.io/docs/prometheus/latest/configuration/alerting_rules/
//
// TODO(lab): the only rule watches errors, and a stopped Billing makes no errors: its backlog can grow all night and
// nobody is paged. Add the alert BillingConsumerLag (customers wait: the shop promises a charge within five minutes
// of the order) and the alert BillingQueueFull (the queue has been at its bound, MaxBacklog, long enough that Sales
// is being held back), from the metrics in metrics.go. Neither may fire on a quiet night or for a moment's blip.
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
`
