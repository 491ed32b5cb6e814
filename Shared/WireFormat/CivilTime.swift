/// A UTC date and time of day from seconds since 1970 (before 1970 too), by Howard Hinnant's `civil_from_days`: no
/// Foundation calendar and no C time structures. Shared by ``RFC3339`` and ``HTTPDate``.
public struct CivilTime: Equatable, Sendable {
    public var year: Int
    public var month: Int
    public var day: Int
    public var hour: Int
    public var minute: Int
    public var second: Int
    /// 0 = Sunday.
    public var weekday: Int

    public init(epochSecond: Int) {
        let dayNumber = epochSecond >= 0 ? epochSecond / 86_400 : (epochSecond - 86_399) / 86_400
        let secondOfDay = epochSecond - dayNumber * 86_400
        let shifted = dayNumber + 719_468
        let era = (shifted >= 0 ? shifted : shifted - 146_096) / 146_097
        let dayOfEra = shifted - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let shiftedMonth = (5 * dayOfYear + 2) / 153
        day = dayOfYear - (153 * shiftedMonth + 2) / 5 + 1
        month = shiftedMonth < 10 ? shiftedMonth + 3 : shiftedMonth - 9
        year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        hour = secondOfDay / 3600
        minute = secondOfDay / 60 % 60
        second = secondOfDay % 60
        weekday = ((dayNumber + 4) % 7 + 7) % 7
    }
}
