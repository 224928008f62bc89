package image

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// Member statuses.
const (
	MemberPending  = "pending"
	MemberAccepted = "accepted"
	MemberRejected = "rejected"
)

// Member shares a "shared" image with another project (the consumer),
// who accepts or rejects it, as Glance's image members.
type Member struct {
	ProjectID string    `json:"member_id"`
	Status    string    `json:"status"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// MemberOf returns project's membership of img, if any.
func (img *Image) MemberOf(project string) (Member, bool) {
	i := slices.IndexFunc(img.Members, func(m Member) bool { return m.ProjectID == project })
	if i < 0 {
		return Member{}, false
	}
	return img.Members[i], true
}

// changeMembers applies fn to the image's members under the store lock
// and persists the result.
func (s *Store) changeMembers(id string, fn func(img *Image, now time.Time) error) (Image, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.images[id]
	if !ok {
		return Image{}, notFound(id)
	}
	next := cur.Clone()
	now := s.opts.Now().UTC().Truncate(time.Second)
	if err := fn(&next, now); err != nil {
		return Image{}, err
	}
	if err := s.persist(&next); err != nil {
		return Image{}, err
	}
	s.images[id] = &next
	return next.Clone(), nil
}

// AddMember shares image id with project (status pending). Only shared
// images have members (else ErrConflict); at most 128 members; a project
// already a member wraps ErrConflict.
func (s *Store) AddMember(_ context.Context, id, project string) (Member, error) {
	if project == "" || len(project) > 255 {
		return Member{}, fmt.Errorf("%w: member: must have 1 to 255 characters", ErrInvalid)
	}
	var m Member
	_, err := s.changeMembers(id, func(img *Image, now time.Time) error {
		switch {
		case img.Visibility != Shared:
			return fmt.Errorf("%w: only shared images have members (image %s is %s)", ErrConflict, id, img.Visibility)
		case project == img.Owner:
			return fmt.Errorf("%w: member: the owner cannot be a member", ErrInvalid)
		case len(img.Members) >= 128:
			return fmt.Errorf("%w: image %s already has 128 members", ErrConflict, id)
		}
		if _, dup := img.MemberOf(project); dup {
			return fmt.Errorf("%w: %s is already a member of image %s", ErrConflict, project, id)
		}
		m = Member{ProjectID: project, Status: MemberPending, CreatedAt: now, UpdatedAt: now}
		img.Members = append(img.Members, m)
		return nil
	})
	return m, err
}

// SetMemberStatus records the consumer's decision (pending, accepted or
// rejected). Not a member wraps compute.ErrNotFound.
func (s *Store) SetMemberStatus(_ context.Context, id, project, status string) (Member, error) {
	switch status {
	case MemberPending, MemberAccepted, MemberRejected:
	default:
		return Member{}, fmt.Errorf("%w: status: %q is not pending, accepted or rejected", ErrInvalid, status)
	}
	var m Member
	_, err := s.changeMembers(id, func(img *Image, now time.Time) error {
		i := slices.IndexFunc(img.Members, func(m Member) bool { return m.ProjectID == project })
		if i < 0 {
			return notFound(id + "/members/" + project)
		}
		img.Members[i].Status, img.Members[i].UpdatedAt = status, now
		m = img.Members[i]
		return nil
	})
	return m, err
}

// RemoveMember stops sharing image id with project. Not a member wraps
// compute.ErrNotFound.
func (s *Store) RemoveMember(_ context.Context, id, project string) error {
	_, err := s.changeMembers(id, func(img *Image, _ time.Time) error {
		i := slices.IndexFunc(img.Members, func(m Member) bool { return m.ProjectID == project })
		if i < 0 {
			return notFound(id + "/members/" + project)
		}
		img.Members = slices.Delete(img.Members, i, i+1)
		return nil
	})
	return err
}
