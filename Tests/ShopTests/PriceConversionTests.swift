import Testing

@testable import Shop

@Suite("Price conversion")
struct PriceConversionTests {
    @Test func ratesAreReadAsMicroUnitsAndPricesRoundToTheCent() {
        #expect(PriceConversion.micros("0.92") == 920_000)
        #expect(PriceConversion.micros("1") == 1_000_000)
        #expect(PriceConversion.micros("1.2345678") == 1_234_567)
        #expect(PriceConversion.convert(price: "10.00", rate: "0.920000") == "9.20")
        #expect(PriceConversion.convert(price: "0.05", rate: "0.5") == "0.03")
    }

    @Test func ratesAProviderCouldSendThatAreNotNumbersOrTooLargeAreRefusedWithoutATrap() {
        #expect(PriceConversion.micros("-1") == nil)
        #expect(PriceConversion.micros("1.2.3") == nil)
        #expect(PriceConversion.micros("1.x") == nil)
        // Digits of other scripts are numbers to Swift, not to us.
        #expect(PriceConversion.micros("1.\u{0663}") == nil)
        #expect(PriceConversion.micros("9223372036854775807") == nil)
        #expect(PriceConversion.micros("9223372036854.999999") == nil)
        #expect(PriceConversion.convert(price: "9999999999.99", rate: "9000000000000") == nil)
    }
}
