package progress

import "time"

// Merge returns the union of two progress states, as when a mob's shared progress file meets a checkout's own:
// a lab passed on either side is passed (solved wins over caught up), hint counts take the larger, start and pass
// times the earlier, and the last run comes from the side that ran last. Neither argument is changed.
func Merge(a, b State) State {
	out := a.Clone()
	for slug, q := range b.Labs {
		if q == nil {
			continue
		}
		p := out.Labs[slug]
		if p == nil {
			out.Labs[slug] = q.clone()
			continue
		}
		out.Labs[slug] = mergeLab(*p, *q)
	}
	out.Version = version
	return out
}

func mergeLab(p, q LabProgress) *LabProgress {
	m := p.clone()
	solved := (p.Passed && !p.CaughtUp) || (q.Passed && !q.CaughtUp)
	m.Passed = p.Passed || q.Passed
	m.CaughtUp = m.Passed && !solved
	m.PassedAt = earliest(passTime(p), passTime(q))
	m.StartedAt = earliest(p.StartedAt, q.StartedAt)
	m.ChaosPassed = p.ChaosPassed || q.ChaosPassed
	later := q.LastRunAt.After(p.LastRunAt)
	if later {
		m.LastRun, m.LastRunAt = q.LastRun, q.LastRunAt
	}
	for k, qs := range q.Steps {
		if qs == nil {
			continue
		}
		ms := m.step(k)
		ms.HintsShown = max(ms.HintsShown, qs.HintsShown)
		ms.PassedAt = earliest(ms.PassedAt, qs.PassedAt)
		if later || ms.LastRun == "" {
			ms.LastRun = qs.LastRun
		}
	}
	return m
}

func passTime(p LabProgress) time.Time {
	if !p.Passed {
		return time.Time{}
	}
	return p.PassedAt
}

// earliest returns the earlier of two times, ignoring zero ones.
func earliest(a, b time.Time) time.Time {
	switch {
	case a.IsZero():
		return b
	case b.IsZero():
		return a
	case b.Before(a):
		return b
	}
	return a
}
