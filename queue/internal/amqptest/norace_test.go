//go:build !race

package amqptest_test

const raceEnabled = false
