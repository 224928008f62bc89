// Package schema holds the ent schemas of novakit's store. Times are
// written by package store in UTC, truncated to microseconds (what every
// dialect keeps); MySQL columns are datetime(6) for that reason.
package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/dialect"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/mixin"
)

// timeType keeps microseconds on MySQL/MariaDB, whose default time
// column type keeps whole seconds.
var timeType = map[string]string{dialect.MySQL: "datetime(6)"}

// TimeMixin adds created_at and updated_at.
type TimeMixin struct{ mixin.Schema }

// Fields of TimeMixin.
func (TimeMixin) Fields() []ent.Field {
	return []ent.Field{
		field.Time("created_at").Immutable().SchemaType(timeType),
		field.Time("updated_at").SchemaType(timeType),
	}
}

func timeField(name string) ent.Field { return field.Time(name).SchemaType(timeType) }

func optTime(name string) ent.Field {
	return field.Time(name).Optional().Nillable().SchemaType(timeType)
}

// str is a NOT NULL string column with default "" ("" means none).
func str(name string) ent.Field { return field.String(name).Default("").MaxLen(255) }

func text(name string) ent.Field {
	return field.Text(name).Default("").SchemaType(map[string]string{dialect.MySQL: "longtext"})
}
